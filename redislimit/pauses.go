package redislimit

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deb4e658/retry/retryhttp"
)

// Pauses is a [retryhttp.SharedPauses] in Redis: the pause a host asks of
// one process holds back every process whose transport uses the same
// prefix, so a fleet of replicas stops calling a rate-limited host together
// and resumes together (each spreading its own callers' release). Pass it
// to [retryhttp.WithSharedPauses].
//
// Each pause is one key, the prefix followed by the transport's cool-down
// key (the host, by default), whose time to live is the pause: Redis
// measures it on its own clock, so replicas with skewed clocks agree.
//
// While Redis fails, PausedFor answers 0 and Pause keeps nothing: each
// process still holds back on its own pauses, as it would without Redis.
// Make one with NewPauses; it is safe for concurrent use.
type Pauses struct {
	conn   conn
	prefix string
}

var _ retryhttp.SharedPauses = (*Pauses)(nil)

// NewPauses returns the pauses kept under prefix in client. The options
// WithTimeout, WithProbeInterval, WithOnFallback and WithOnRecover apply;
// WithFallback is a Limiter's and is refused. NewPauses does not talk to
// Redis. It returns an error for a nil client or an empty prefix (which
// would put hosts' names among the other keys of the database).
func NewPauses(client redis.UniversalClient, prefix string, opts ...Option) (*Pauses, error) {
	if isNil(client) {
		return nil, errors.New("retry: redis pauses client is nil")
	}
	if prefix == "" {
		return nil, errors.New("retry: redis pauses prefix is empty")
	}
	set, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	if set.fallbackSet {
		return nil, errors.New("retry: redis pauses: WithFallback applies to a Limiter, " +
			"not to Pauses")
	}
	return &Pauses{conn: set.conn(client, fmt.Sprintf("redis pauses prefix %q", prefix)),
		prefix: prefix}, nil
}

// Pause closes key for d from now on the Redis clock, rounded up to a
// millisecond, unless it is closed for longer already. A d of zero or less
// does nothing. A Pause lost to a failing Redis is lost: the process that
// saw the answer still holds back.
func (p *Pauses) Pause(key string, d time.Duration) {
	if !p.made() || d <= 0 {
		return
	}
	ms := d / time.Millisecond // rounded up below, without overflow
	if d%time.Millisecond != 0 {
		ms++
	}
	p.conn.call(pauseScript, []string{p.prefix + key}, 1, int64(ms))
}

// PausedFor returns how long key stays closed from now on the Redis clock:
// 0 when it is open, and while Redis fails.
func (p *Pauses) PausedFor(key string) time.Duration {
	if !p.made() {
		return 0
	}
	vals, ok := p.conn.call(pausedScript, []string{p.prefix + key}, 1)
	if !ok || vals[0] <= 0 {
		return 0
	}
	if vals[0] > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64 // the longest Duration: a pause of centuries
	}
	return time.Duration(vals[0]) * time.Millisecond
}

// String describes the pauses, as in `pauses shared in Redis keys "pause:*"`.
func (p *Pauses) String() string {
	if !p.made() {
		return "no shared pauses"
	}
	return fmt.Sprintf("pauses shared in Redis keys %q", p.prefix+"*")
}

func (p *Pauses) made() bool {
	return p != nil && p.conn.client != nil
}

// pauseScript sets the key's time to live to ARGV[1] ms unless it has more
// left. It returns what was left before, in ms (negative: no pause). A
// script, so that two processes pausing at once keep the longer pause.
var pauseScript = redis.NewScript(`
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
	redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return {left}
`)

// pausedScript returns the key's time to live in ms (negative: no pause).
// A script only so that it runs through conn like the others.
var pausedScript = redis.NewScript(`
return {redis.call('PTTL', KEYS[1])}
`)
