package retry

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Outcome is what became of an attempt, as told to an Observer.
type Outcome int8

const (
	// Succeeded means the attempt succeeded.
	Succeeded Outcome = iota + 1

	// Throttled means the server said the client sends too much (a 429, or
	// a 403 that IsRateLimited) and did not say how long to wait.
	Throttled

	// Failed is any other failure, a throttle with a server delay included:
	// the executor waits what the server asked, so the rate need not drop.
	Failed
)

// Observer is implemented by a Limiter that learns from what becomes of
// the attempts it admitted. The executor calls Observe after every attempt
// of a policy whose Limiter implements it.
type Observer interface {
	Observe(now time.Time, o Outcome)
}

// The steps of an AdaptiveLimiter: each throttle halves the rate, and each
// success gives back a fiftieth of the span between the bounds, so the rate
// falls at once and recovers over some fifty successes.
const (
	adaptiveDecrease = 0.5
	adaptiveSteps    = 50
)

// adaptiveHold is how long after a decrease further throttles are taken as
// news of the same overload: the time of a few calls at the old rate, and
// at least 100ms.
func adaptiveHold(perSecond float64) time.Duration {
	return max(100*time.Millisecond, time.Duration(4*float64(time.Second)/perSecond))
}

// AdaptiveLimiter is a RateLimiter whose rate follows the server: it halves
// when a server throttles without saying for how long, and climbs back
// gradually as calls succeed, within bounds the user sets (multiplicative
// decrease, additive increase, as TCP and the AWS SDK's adaptive mode do).
// When the server does say how long, its word wins and the rate stays.
// Throttles that arrive together (within the time of a few calls at the
// current rate) halve the rate once.
//
// It is safe for concurrent use. Make one with NewAdaptiveLimiter.
type AdaptiveLimiter struct {
	lim       *rate.Limiter
	min, max  float64 // calls per second
	burst     int
	mu        sync.Mutex
	perSecond float64
	cutAt     time.Time // the last decrease
}

// NewAdaptiveLimiter returns a limiter that starts at maxPerSecond calls a
// second and adapts between minPerSecond and maxPerSecond, with bursts of up
// to burst calls. It returns an error naming the argument when a rate is
// not positive and finite, min exceeds max, or burst is below 1.
func NewAdaptiveLimiter(minPerSecond, maxPerSecond float64, burst int) (
	*AdaptiveLimiter, error) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"minPerSecond", minPerSecond}, {"maxPerSecond", maxPerSecond}} {
		if !(f.v > 0 && f.v <= math.MaxFloat64) {
			return nil, fmt.Errorf("retry: adaptive limiter %s %v must be positive and finite",
				f.name, f.v)
		}
	}
	if minPerSecond > maxPerSecond {
		return nil, fmt.Errorf("retry: adaptive limiter minPerSecond %v is above maxPerSecond %v",
			minPerSecond, maxPerSecond)
	}
	if burst < 1 {
		return nil, fmt.Errorf("retry: adaptive limiter burst %d must be at least 1", burst)
	}
	return &AdaptiveLimiter{lim: rate.NewLimiter(rate.Limit(maxPerSecond), burst),
		min: minPerSecond, max: maxPerSecond, burst: burst, perSecond: maxPerSecond}, nil
}

// Reserve claims the next slot at or after now (see Limiter).
func (a *AdaptiveLimiter) Reserve(now time.Time) (time.Duration, func(time.Time), error) {
	return reserve(a.lim, now)
}

// Observe adapts the rate to what became of an attempt.
func (a *AdaptiveLimiter) Observe(now time.Time, o Outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()

	next := a.perSecond
	switch o {
	case Throttled:
		if now.Sub(a.cutAt) < adaptiveHold(a.perSecond) {
			// Throttles that were in flight together tell of one overload,
			// not several: halving for each would collapse the rate.
			return
		}
		a.cutAt = now
		next = max(a.perSecond*adaptiveDecrease, a.min)
	case Succeeded:
		next = min(a.perSecond+(a.max-a.min)/adaptiveSteps, a.max)
	}
	if next != a.perSecond {
		a.perSecond = next
		a.lim.SetLimitAt(now, rate.Limit(next))
	}
}

// Rate returns the current rate, in calls per second.
func (a *AdaptiveLimiter) Rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.perSecond
}
