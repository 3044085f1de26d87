package redislimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	client   redis.UniversalClient
	key      string
	interval int64 // microseconds of the Redis clock
	tau      int64 // how far ahead of its slot time a call may go, in µs

	timeout          time.Duration
	probeEvery       time.Duration
	fallbackInterval time.Duration
	fallbackBurst    int
	fallback         *retry.RateLimiter
	onFallback       func(err error)
	onRecover        func()

	mu        sync.Mutex
	down      bool      // Redis failed last; the fallback answers
	probing   bool      // one Reserve is asking Redis whether it is back
	nextProbe time.Time // when Reserve may ask Redis again
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
	if client == nil {
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

	us := (interval + time.Microsecond - 1) / time.Microsecond
	l := &Limiter{client: client, key: key, interval: int64(us),
		tau: int64(burst-1) * int64(us), timeout: DefaultTimeout,
		probeEvery: DefaultProbeInterval, fallbackInterval: interval, fallbackBurst: burst}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(l); err != nil {
			return nil, err
		}
	}

	fb, err := retry.NewRateLimiter(l.fallbackInterval, l.fallbackBurst)
	if err != nil {
		return nil, fmt.Errorf("retry: redis limiter fallback: %w", err)
	}
	l.fallback = fb
	return l, nil
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
	if l == nil || l.client == nil {
		return 0, nil, errNotMade
	}
	ok, probe := l.admit()
	if !ok {
		return l.fallback.Reserve(now)
	}

	r, err := l.reserve()
	l.report(probe, err)
	if err != nil {
		return l.fallback.Reserve(now)
	}
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

// reserve runs the reservation script, without the fallback.
func (l *Limiter) reserve() (reservation, error) {
	r, err := l.run(reserveScript, l.interval, l.tau)
	if err != nil {
		return reservation{}, err
	}
	return reservation{wait: time.Duration(r[0]) * time.Microsecond, tat: r[1], now: r[2]}, nil
}

var errNotMade = errors.New("retry: redis limiter not made by New")

// String describes the limiter, as in `1 call every 100ms, burst 1, shared
// in Redis key "limit:api"`.
func (l *Limiter) String() string {
	return fmt.Sprintf("1 call every %v, burst %d, shared in Redis key %q",
		time.Duration(l.interval)*time.Microsecond, l.tau/l.interval+1, l.key)
}

// giveBack returns the reservation whose theoretical arrival time is tat,
// if it is still the latest one.
func (l *Limiter) giveBack(tat int64) {
	l.mu.Lock()
	down := l.down
	l.mu.Unlock()
	if down {
		// The fallback has the callers now; a slow cancel would only add
		// a timeout to a wait that has already ended.
		return
	}
	_, err := l.run(cancelScript, tat, l.interval, l.tau)
	l.report(false, err)
}

// admit says whether this call may ask Redis, and whether it does so as
// the one probe of a Redis that failed.
func (l *Limiter) admit() (ok, probe bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return true, false
	}
	// Real time on purpose: how long Redis has been failing has nothing
	// to do with the policy's clock, which a test may have stopped.
	if l.probing || time.Now().Before(l.nextProbe) {
		return false, false
	}
	l.probing = true
	return true, true
}

// report records the outcome of a Redis call and fires a hook when it
// changes which limiter answers. Only a probe brings Redis back, so that a
// call that started before a failure cannot undo it.
func (l *Limiter) report(probe bool, err error) {
	l.mu.Lock()
	if probe {
		l.probing = false
	}
	var fellBack, recovered bool
	switch {
	case err != nil:
		fellBack = !l.down
		l.down = true
		l.nextProbe = time.Now().Add(l.probeEvery)
	case probe && l.down:
		recovered = true
		l.down = false
	}
	l.mu.Unlock()

	// Outside the lock, so that a hook may call the limiter.
	if fellBack && l.onFallback != nil {
		l.onFallback(err)
	}
	if recovered && l.onRecover != nil {
		l.onRecover()
	}
}

// run runs a script on the limiter's key and returns its integer replies.
// It returns within the timeout even when the client would wait longer: a
// go-redis client follows the context's deadline only with
// ContextTimeoutEnabled, so the call runs in a goroutine that is left to
// finish on its own. While Redis fails only one call a probe interval gets
// here, so few such goroutines can pile up.
func (l *Limiter) run(s *redis.Script, args ...any) ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()

	type result struct {
		vals []int64
		err  error
	}
	done := make(chan result, 1) // buffered: the goroutine never blocks
	go func() {
		v, err := s.Run(ctx, l.client, []string{l.key}, args...).Int64Slice()
		done <- result{v, err}
	}()

	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("retry: redis limiter key %q: %w", l.key, r.err)
		}
		if len(r.vals) < 3 {
			return nil, fmt.Errorf("retry: redis limiter key %q: script gave %d values",
				l.key, len(r.vals))
		}
		return r.vals, nil
	case <-ctx.Done():
		// A reservation made after this is lost: the bucket is a slot
		// poorer, which errs on the side of fewer calls.
		return nil, fmt.Errorf("retry: redis limiter key %q: no answer within %v: %w",
			l.key, l.timeout, ctx.Err())
	}
}
