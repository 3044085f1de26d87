package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deb4e658/retry"
)

const (
	// DefaultTTL is how long a job's count is kept after its last Incr when
	// no WithTTL option is given: long enough for a day of backoff between
	// runs, short enough that the counts of abandoned jobs do not pile up.
	DefaultTTL = 24 * time.Hour

	// DefaultPrefix is put before a job's id to make its key when no
	// WithPrefix option is given.
	DefaultPrefix = "job:retry:"
)

// Store is a [retry.Store] that keeps each job's count in a Redis key. Make
// one with New; the zero value has no client and is not usable. A Store is
// safe for concurrent use, by one process or many, and Incr is atomic.
type Store struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ retry.Store = (*Store)(nil)

// Option configures a Store made by New. Options are comparable values, so
// WithTTL(time.Hour) == WithTTL(time.Hour).
type Option interface {
	apply(*Store) error
}

type ttlOption time.Duration

func (o ttlOption) apply(s *Store) error {
	d := time.Duration(o)
	if d < time.Millisecond {
		// Redis counts a key's time to live in whole milliseconds, and an
		// expiry of 0 or less deletes the key at once: such a TTL would lose
		// every count, so it is refused rather than clamped.
		return fmt.Errorf("redisstore: TTL %v must be at least 1ms", d)
	}
	s.ttl = d
	return nil
}

// WithTTL sets how long a job's count is kept after its last Incr; each Incr
// starts the period again. The default is DefaultTTL. New returns an error
// for a TTL under one millisecond, zero and negative ones included. Make it
// longer than the longest wait between two runs of a job, or a slow job's
// count starts over.
func WithTTL(d time.Duration) Option {
	return ttlOption(d)
}

type prefixOption string

func (o prefixOption) apply(s *Store) error {
	s.prefix = string(o)
	return nil
}

// WithPrefix sets the text put before a job's id to make its Redis key. The
// default is DefaultPrefix. An empty prefix makes the id the key.
func WithPrefix(prefix string) Option {
	return prefixOption(prefix)
}

// New returns a Store that keeps counts through client, which may be a
// *redis.Client, a *redis.ClusterClient or any other redis.UniversalClient.
// It sends nothing to the server. It returns an error when client is nil or
// an option is invalid, such as a TTL under one millisecond.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: a client is required, got nil")
	}

	s := &Store{client: client, prefix: DefaultPrefix, ttl: DefaultTTL}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("redisstore: nil option")
		}
		if err := opt.apply(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Incr adds one to the count of job id, sets its key to expire after the
// store's TTL, and returns the new count: 1 when the key did not exist. It
// returns an error, naming the job and wrapping the client's error, when
// Redis cannot be reached or answers with an error, for example when the key
// holds something other than an integer.
func (s *Store) Incr(ctx context.Context, id string) (int, error) {
	key := s.prefix + id

	// INCR and PEXPIRE go in one MULTI/EXEC transaction, sent in a single
	// round trip: no other client's command runs between them, and no key is
	// left without an expiry if this worker dies in between. A Lua script
	// would do the same; a transaction needs no script cache and still works
	// where an ACL or a managed Redis forbids EVAL.
	var incr *redis.IntCmd
	_, err := s.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		incr = pipe.Incr(ctx, key)
		pipe.PExpire(ctx, key, s.ttl)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redisstore: incr job %q: %w", id, err)
	}
	return int(incr.Val()), nil
}

// Reset deletes the count of job id; the next Incr returns 1. Resetting a
// job that has no count is not an error. It returns an error, naming the
// job and wrapping the client's error, when Redis cannot be reached.
func (s *Store) Reset(ctx context.Context, id string) error {
	if err := s.client.Del(ctx, s.prefix+id).Err(); err != nil {
		return fmt.Errorf("redisstore: reset job %q: %w", id, err)
	}
	return nil
}
