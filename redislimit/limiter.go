package redislimit

import (
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deb4e658/retry"
)

// Limiter is a [retry.Limiter] whose state lives in Redis under one key, so
// every process that uses the key shares its rate. It is a GCRA (generic
// cell rate algorithm) bucket, the same pacing as [retry.RateLimiter]: one
// call every interval on average, up to burst calls at once after a quiet
// spell. Make one with New; it is safe for concurrent use.
type Limiter struct {
	conn     conn
	key      string
	interval int64 // microseconds of the Redis clock
	tau      int64 // how far ahead of its slot time a call may go, in µs
	fallback *retry.RateLimiter
}

// New returns a limiter on the given key of client that admits one call
// every interval on average across every process using the key, and up to
// burst calls at once after a quiet spell. The interval is rounded up to a
// whole microsecond, the resolution of the Redis clock.
//
// New does not talk to Redis, so it succeeds while Redis is down. It returns
// an error for a nil client, an empty key, an interval that is not positive
// or longer than a year, a burst below 1, or a bad option.
func New(client redis.UniversalClient, key string, interval time.Duration, burst int,
	opts ...Option) (*Limiter, error) {
	if isNil(client) {
		return nil, errors.New("retry: redis limiter client is nil")
	}
	if key == "" {
		return nil, errors.New("retry: redis limiter key is empty")
	}
	// NewRateLimiter checks interval and burst with the same bounds, and
	// the in-process limiter is the fallback's default anyway.
	if _, err := retry.NewRateLimiter(interval, burst); err != nil {
		return nil, err
	}

	us := int64((interval + time.Microsecond - 1) / time.Microsecond)
	if span := maxExactMicros / us; int64(burst-1) > span {
		// Lua's numbers are doubles: past 2^53 µs the arithmetic of the
		// script would round, or overflow to another burst entirely.
		return nil, fmt.Errorf("retry: redis limiter burst %d with interval %v spans more "+
			"than 2^53 µs (about 285 years); use a burst of at most %d", burst, interval, span+1)
	}
	set, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	if !set.fallbackSet {
		set.fallbackInterval, set.fallbackBurst = interval, burst
	}
	fb, err := retry.NewRateLimiter(set.fallbackInterval, set.fallbackBurst)
	if err != nil {
		return nil, fmt.Errorf("retry: redis limiter fallback: %w", err)
	}

	return &Limiter{conn: set.conn(client, fmt.Sprintf("redis limiter key %q", key)),
		key: key, interval: us, tau: int64(burst-1) * us, fallback: fb}, nil
}

// Reserve claims the next slot of the shared bucket and returns how long
// the caller must wait for it. The wait is computed on the Redis server's
// clock; now is used only by the fallback limiter, so the clocks of the
// processes (and a fake clock in a policy) do not skew the shared rate.
//
// When Redis fails or does not answer within the timeout, or failed less
// than the probe interval ago, Reserve answers from the local fallback
// limiter instead. It returns an error only for a Limiter not made by New.
//
// The cancel it returns gives the slot back only when it is still the
// latest reservation of the key and its time has not come: a slot with
// later ones behind it stays taken, as those callers already wait for
// theirs. Giving back is best effort and ignores its argument for the same
// reason Reserve ignores now. A wait of zero comes without a cancel.
func (l *Limiter) Reserve(now time.Time) (time.Duration, func(time.Time), error) {
	if l == nil || l.conn.client == nil {
		return 0, nil, errNotMade
	}
	vals, ok := l.conn.call(reserveScript, []string{l.key}, 3, l.interval, l.tau)
	if !ok {
		return l.fallback.Reserve(now)
	}
	r := reservationOf(vals)
	if r.wait <= 0 {
		return 0, nil, nil
	}
	return r.wait, func(time.Time) { l.giveBack(r.tat) }, nil
}

// reservation is a slot reserved in Redis.
type reservation struct {
	wait time.Duration
	tat  int64 // the TAT the reservation set, in µs of the Redis clock
	now  int64 // the Redis clock when it was made, in µs
}

func reservationOf(vals []int64) reservation {
	return reservation{wait: time.Duration(vals[0]) * time.Microsecond, tat: vals[1],
		now: vals[2]}
}

// reserve runs the reservation script, without the fallback.
func (l *Limiter) reserve() (reservation, error) {
	vals, err := l.conn.run(reserveScript, []string{l.key}, 3, l.interval, l.tau)
	if err != nil {
		return reservation{}, err
	}
	return reservationOf(vals), nil
}

var errNotMade = errors.New("retry: redis limiter not made by New")

// maxExactMicros is the largest count of µs the script computes exactly.
const maxExactMicros = 1 << 53

// String describes the limiter, as in `1 call every 100ms, burst 1, shared
// in Redis key "limit:api"`.
func (l *Limiter) String() string {
	return fmt.Sprintf("1 call every %v, burst %d, shared in Redis key %q",
		time.Duration(l.interval)*time.Microsecond, l.tau/l.interval+1, l.key)
}

// giveBack returns the reservation whose theoretical arrival time is tat,
// if it is still the latest one.
func (l *Limiter) giveBack(tat int64) {
	if l.conn.isDown() {
		// The fallback has the callers now; a slow cancel would only add
		// a timeout to a wait that has already ended.
		return
	}
	// A give-back lost to a timeout leaves the bucket a slot poorer, which
	// errs on the side of fewer calls.
	_, err := l.conn.run(cancelScript, []string{l.key}, 3, tat, l.interval, l.tau)
	l.conn.report(false, err)
}
