package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Jitter is a way of randomising the waits of a [Policy], so that many
// callers that failed together do not retry together. The zero Jitter is
// ProportionalJitter(DefaultJitterFraction), that is ±20%.
//
// Whatever the strategy, a wait never exceeds the policy's MaxDelay.
type Jitter struct {
	kind     jitterKind
	fraction float64
}

type jitterKind uint8

const (
	jitterDefault jitterKind = iota
	jitterNone
	jitterProportional
	jitterFull
	jitterEqual
	jitterDecorrelated
)

var (
	// NoJitter waits exactly the exponential delay.
	NoJitter = Jitter{kind: jitterNone}

	// FullJitter waits a uniform random time between zero and the
	// exponential delay. It spreads callers the most, and some retries come
	// almost at once.
	FullJitter = Jitter{kind: jitterFull}

	// EqualJitter waits half the exponential delay plus a uniform random
	// time up to the other half.
	EqualJitter = Jitter{kind: jitterEqual}

	// DecorrelatedJitter waits a uniform random time between InitialDelay
	// and three times the previous wait, as Marc Brooker described for AWS.
	// The Multiplier is not used: the growth comes from the previous wait.
	DecorrelatedJitter = Jitter{kind: jitterDecorrelated}
)

// ProportionalJitter waits the exponential delay times a uniform random
// factor in [1-fraction, 1+fraction]. A fraction outside [0, 1] makes the
// policy invalid.
func ProportionalJitter(fraction float64) Jitter {
	return Jitter{kind: jitterProportional, fraction: fraction}
}

// String names the strategy, as in "±20%" or "full".
func (j Jitter) String() string {
	switch j.kind {
	case jitterNone:
		return "none"
	case jitterFull:
		return "full"
	case jitterEqual:
		return "equal"
	case jitterDecorrelated:
		return "decorrelated"
	}
	return fmt.Sprintf("±%g%%", j.frac()*100)
}

func (j Jitter) frac() float64 {
	if j.kind == jitterDefault {
		return DefaultJitterFraction
	}
	return j.fraction
}

func (j Jitter) validate() error {
	if f := j.frac(); !(f >= 0 && f <= 1) {
		return invalid("Jitter", f, "fraction must be within [0, 1]")
	}
	return nil
}

// apply turns the capped exponential delay base into the wait, drawing from
// p's random source. The result lies in [0, maxDelay].
func (j Jitter) apply(base, initial, prev, maxDelay time.Duration, p *Policy) time.Duration {
	var d float64
	switch j.kind {
	case jitterNone:
		return base
	case jitterFull:
		d = p.random() * float64(base)
	case jitterEqual:
		d = float64(base)/2 + p.random()*float64(base)/2
	case jitterDecorrelated:
		if prev < initial {
			prev = initial
		}
		// Three times prev in floating point cannot overflow.
		lo, hi := float64(initial), math.Min(3*float64(prev), float64(maxDelay))
		d = lo + p.random()*math.Max(hi-lo, 0)
	default:
		f := j.frac()
		d = float64(base) * (1 + f*(2*p.random()-1))
	}
	return clampDelay(d, maxDelay)
}

// clampDelay converts d to a Duration within [0, maxDelay].
func clampDelay(d float64, maxDelay time.Duration) time.Duration {
	switch {
	case d >= float64(maxDelay):
		return maxDelay
	case d > 0:
		return time.Duration(d)
	}
	return 0
}

// LockedSource returns a source that serialises calls to src, so that a
// seeded source that is not safe for concurrent use, such as *rand.PCG, can
// serve a shared Policy. The waits stay repeatable for a single goroutine.
func LockedSource(src rand.Source) rand.Source {
	return &lockedSource{src: src}
}

type lockedSource struct {
	mu  sync.Mutex
	src rand.Source
}

func (s *lockedSource) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src.Uint64()
}
