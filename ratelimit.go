package retry

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces calls to a service. A Policy with a Limiter asks it for a
// slot before every attempt, retries included, and waits for the slot on
// the policy's clock, so fake clocks and context cancellation apply.
//
// Implementations must be safe for concurrent use; one Limiter is meant to
// be shared by every goroutine and policy that calls the same service.
type Limiter interface {
	// Reserve claims the next slot at or after now and returns how long the
	// caller must wait for it. If the caller gives up the wait, it calls
	// cancel (when not nil) with the time it gave up, so the slot can go to
	// someone else. An error means no slot can be had.
	Reserve(now time.Time) (wait time.Duration, cancel func(now time.Time), err error)
}

// RateLimiter is a token bucket, built on golang.org/x/time/rate, that
// keeps a minimum spacing between calls and allows short bursts. It is safe
// for concurrent use. Make one with NewRateLimiter.
type RateLimiter struct {
	lim   *rate.Limiter
	every time.Duration
	burst int
}

// NewRateLimiter returns a limiter that admits one call every interval on
// average, and up to burst calls at once after a quiet spell. A burst of 1
// keeps every two calls at least interval apart. It returns an error naming
// the argument when interval is not positive or burst is below 1, since
// such a limiter could never admit a call at the rate asked.
func NewRateLimiter(interval time.Duration, burst int) (*RateLimiter, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("retry: rate limiter interval %v must be positive", interval)
	}
	if interval > maxInterval {
		// x/time/rate's arithmetic overflows on longer ones.
		return nil, fmt.Errorf("retry: rate limiter interval %v must be at most %v",
			interval, maxInterval)
	}
	if burst < 1 {
		return nil, fmt.Errorf("retry: rate limiter burst %d must be at least 1", burst)
	}
	return &RateLimiter{lim: rate.NewLimiter(rate.Every(interval), burst),
		every: interval, burst: burst}, nil
}

// maxInterval is the longest interval NewRateLimiter accepts: a year.
const maxInterval = 365 * 24 * time.Hour

// Reserve claims the next slot at or after now. A slot that is free now
// costs no allocation.
func (l *RateLimiter) Reserve(now time.Time) (time.Duration, func(time.Time), error) {
	if l == nil || l.lim == nil {
		return 0, nil, errNotMade
	}
	return reserve(l.lim, now)
}

var errNotMade = fmt.Errorf("retry: rate limiter not made by NewRateLimiter")

func reserve(lim *rate.Limiter, now time.Time) (time.Duration, func(time.Time), error) {
	if lim.AllowN(now, 1) {
		return 0, nil, nil
	}

	r := lim.ReserveN(now, 1)
	if !r.OK() {
		// Unreachable with a burst of at least 1; kept so a change to the
		// constructor cannot turn into an endless wait.
		return 0, nil, fmt.Errorf("retry: rate limiter cannot admit a call")
	}
	return r.DelayFrom(now), r.CancelAt, nil
}

// String describes the limiter, as in "1 call every 100ms, burst 1".
func (l *RateLimiter) String() string {
	return fmt.Sprintf("1 call every %v, burst %d", l.every, l.burst)
}
