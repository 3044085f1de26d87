package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// The defaults a [Policy] takes for fields left at zero. Together they are
// the common case for a call to a busy remote service: five attempts,
// waits of about 1s, 2s, 4s and 8s between them, each attempt cut off
// after 30s.
const (
	DefaultMaxAttempts    = 5
	DefaultInitialDelay   = time.Second
	DefaultMaxDelay       = 60 * time.Second
	DefaultMultiplier     = 2.0
	DefaultJitterFraction = 0.2
	DefaultAttemptTimeout = 30 * time.Second
	DefaultMaxServerDelay = 2 * time.Minute
)

// Unlimited lifts a limit of a [Policy] when given as its MaxAttempts,
// AttemptTimeout, TimeLimit, FailureTimeLimit or MaxServerDelay.
const Unlimited = -1

// NoDelay makes retries follow each other without waiting (unless a server
// asks for a delay) when given as the InitialDelay of a [Policy]. It is meant for
// tests and benchmarks; against a real service it is a hot loop. It differs
// from Unlimited, so that one cannot be mistaken for the other.
const NoDelay time.Duration = -2

// MinServerDelay is the shortest wait that follows an answer in which the
// server asked for a delay. A Retry-After of zero or of a date in the past
// would otherwise turn the loop into a hot loop against a service that is
// already overloaded.
const MinServerDelay = 50 * time.Millisecond

// Policy says how often and how patiently a call is retried. The executor
// is its [Policy.Do] method, and [DoValue] for calls that return a value.
//
// A zero field takes the default named beside it, so the zero Policy (and a
// nil *Policy) is the default policy:
//
//	field            zero means                  other notable values
//	MaxAttempts      5                           Unlimited
//	InitialDelay     1s                          NoDelay
//	MaxDelay         60s
//	Multiplier       2                           1 for a constant delay
//	Jitter           ±20% (ProportionalJitter)   NoJitter, FullJitter, ...
//	AttemptTimeout   30s                         Unlimited
//	TimeLimit        none                        Unlimited (same as zero)
//	FailureTimeLimit none                        Unlimited (same as zero)
//	MaxServerDelay   2m                          Unlimited
//
// With the defaults the waits are about 1s, 2s, 4s and 8s, each within ±20%.
// The delay before attempt n is InitialDelay × Multiplier^(n-2), capped at
// MaxDelay, with the jitter applied and the result capped at MaxDelay again.
//
// A Policy must not be modified once in use. It keeps no state of its own
// between calls, so one Policy may be shared by any number of goroutines.
type Policy struct {
	// MaxAttempts is the number of calls made at most, the first included:
	// a MaxAttempts of 3 means one call and up to two retries.
	MaxAttempts int

	// InitialDelay is the wait before the second attempt.
	InitialDelay time.Duration

	// MaxDelay caps every wait computed from the backoff schedule, jitter
	// included. Validate refuses a MaxDelay below InitialDelay, unless
	// Backoff replaces the schedule. It does not cap a delay the server asks for: MaxServerDelay
	// does.
	MaxDelay time.Duration

	// Multiplier is the growth of the delay from one wait to the next. It
	// must be at least 1.
	Multiplier float64

	// Jitter spreads the waits of many callers so they do not retry in step.
	Jitter Jitter

	// AttemptTimeout bounds each attempt: the context passed to the function
	// ends when it passes. An attempt that runs out of it is retried.
	AttemptTimeout time.Duration

	// TimeLimit bounds the whole call, counted from the call to Do. No
	// attempt starts, and no wait begins that would end, after it. It does
	// not cut a running attempt short; AttemptTimeout and the context do.
	TimeLimit time.Duration

	// FailureTimeLimit is like TimeLimit but counted from the end of the
	// first failed attempt, so a slow first success is not penalised. When
	// both are set, whichever ends first applies.
	FailureTimeLimit time.Duration

	// MaxServerDelay is the longest wait a server may ask for (with
	// Retry-After or a similar header). A longer request stops retrying at
	// once with ErrServerDelay, and the Error carries the requested delay so
	// the caller can schedule the work for later.
	MaxServerDelay time.Duration

	// Classifier decides which errors are worth another attempt. Its answer
	// of Unknown falls through to DefaultClassifier. Nil means
	// DefaultClassifier alone.
	Classifier Classifier

	// Limiter, when set, is waited on before every attempt, retries
	// included. One Limiter is usually shared by every policy that calls the
	// same service.
	Limiter Limiter

	// Clock is the source of time for every wait. Nil means RealClock.
	Clock Clock

	// Rand is the source of jitter. Nil means the runtime's generator, which
	// needs no lock. A seeded source makes the waits repeatable; it must be
	// safe for concurrent use when the policy is shared (see LockedSource).
	Rand rand.Source

	// Backoff, when set, replaces the policy's own schedule: every call to
	// Do makes a fresh backoff.BackOff with it and waits what NextBackOff
	// says. backoff.Stop ends the run with ErrExhausted. The delay fields and
	// Jitter are then unused; every other field still applies.
	Backoff func() backoff.BackOff

	// Hooks are called at documented moments of each call. See Hooks.
	Hooks Hooks

	// Budget, when set, caps retries at a share of recent calls. One budget
	// (a *Budget from NewBudget, or any RetryBudget) is shared by every
	// policy that calls the same dependency. When it is spent the call gives
	// up at once with ErrRetryBudget.
	Budget RetryBudget

	// RetryInnerGiveUps lets this loop retry an error that a loop nested in
	// its function already gave up on after spending its attempts or time
	// (ErrExhausted, ErrTimeLimit). By default such an error is final here:
	// the inner loop has already retried it, and retrying it again at every
	// layer multiplies the calls (5 × 3 × 5 = 75 for three layers).
	RetryInnerGiveUps bool
}

// Default returns the default policy with every field spelled out, ready to
// adjust. It behaves the same as the zero Policy.
func Default() *Policy {
	return &Policy{
		MaxAttempts:    DefaultMaxAttempts,
		InitialDelay:   DefaultInitialDelay,
		MaxDelay:       DefaultMaxDelay,
		Multiplier:     DefaultMultiplier,
		Jitter:         ProportionalJitter(DefaultJitterFraction),
		AttemptTimeout: DefaultAttemptTimeout,
		MaxServerDelay: DefaultMaxServerDelay,
	}
}

// Validate reports the first field of p that holds a value the policy cannot
// use, as an error that names the field and the value and matches
// ErrInvalidPolicy. Do and DoValue call it before the first attempt.
func (p *Policy) Validate() error {
	if p == nil {
		return nil
	}

	// Plain comparisons, not a table: Validate runs on every call, and
	// building a table of names costs more than the call it guards.
	switch {
	case p.MaxAttempts < 0 && p.MaxAttempts != Unlimited:
		return invalid("MaxAttempts", p.MaxAttempts, "must be positive, 0 or Unlimited")
	case p.InitialDelay < 0 && p.InitialDelay != NoDelay:
		return invalid("InitialDelay", p.InitialDelay, "must not be negative, except NoDelay")
	case p.MaxDelay < 0:
		return invalid("MaxDelay", p.MaxDelay, "must not be negative")
	case p.AttemptTimeout < 0 && p.AttemptTimeout != Unlimited:
		return invalid("AttemptTimeout", p.AttemptTimeout, unlimitedRule)
	case p.TimeLimit < 0 && p.TimeLimit != Unlimited:
		return invalid("TimeLimit", p.TimeLimit, unlimitedRule)
	case p.FailureTimeLimit < 0 && p.FailureTimeLimit != Unlimited:
		return invalid("FailureTimeLimit", p.FailureTimeLimit, unlimitedRule)
	case p.MaxServerDelay < 0 && p.MaxServerDelay != Unlimited:
		return invalid("MaxServerDelay", p.MaxServerDelay, unlimitedRule)
	}

	m := p.Multiplier
	if m != 0 && !(m >= 1 && m <= math.MaxFloat64) {
		return invalid("Multiplier", m, "must be at least 1 and finite")
	}
	if err := p.Jitter.validate(); err != nil {
		return err
	}
	if p.Backoff == nil && p.initialDelay() > p.maxDelay() {
		return fmt.Errorf("%w: MaxDelay %v is below InitialDelay %v",
			ErrInvalidPolicy, p.maxDelay(), p.initialDelay())
	}
	return nil
}

const unlimitedRule = "must not be negative, except Unlimited"

func invalid(field string, value any, rule string) error {
	return fmt.Errorf("%w: %s %v %s", ErrInvalidPolicy, field, value, rule)
}

// DelayBefore returns the wait before attempt n of a call: 0 for the first
// attempt, InitialDelay (with jitter) for the second, and so on. prev is the
// wait before the previous attempt; only DecorrelatedJitter uses it, and 0
// stands for "none yet".
//
// DelayBefore neither sleeps nor changes anything, so a job scheduler can
// ask it for the delay of a job's next run. It never overflows or goes
// negative for any n and never exceeds MaxDelay. It ignores the Backoff
// field, which is stateful.
func (p *Policy) DelayBefore(n int, prev time.Duration) time.Duration {
	if n <= 1 {
		return 0
	}
	var j Jitter
	if p != nil {
		j = p.Jitter
	}
	// An invalid policy (a negative MaxDelay, say) must not make it negative.
	return max(j.apply(p.baseDelay(n), p.initialDelay(), prev, p.maxDelay(), p), 0)
}

// baseDelay is the delay before attempt n >= 2 before jitter, capped at
// MaxDelay. Floating point keeps the growth from overflowing: a huge power
// becomes +Inf, which the cap absorbs.
func (p *Policy) baseDelay(n int) time.Duration {
	initial, maxDelay := p.initialDelay(), p.maxDelay()
	if initial == 0 {
		return 0 // NoDelay: and 0 × +Inf would be NaN
	}
	d := float64(initial) * math.Pow(p.multiplier(), float64(n-2))
	if d >= float64(maxDelay) || math.IsNaN(d) {
		return maxDelay
	}
	return time.Duration(d)
}

// random returns a uniform float64 in [0, 1) from the policy's source.
func (p *Policy) random() float64 {
	if p == nil || p.Rand == nil {
		return rand.Float64()
	}
	// The top 53 bits make an exact float64 in [0, 1), as math/rand/v2 does.
	return float64(p.Rand.Uint64()>>11) / (1 << 53)
}

// The accessors below apply the defaults; they accept a nil policy.

func (p *Policy) maxAttempts() int {
	switch {
	case p == nil || p.MaxAttempts == 0:
		return DefaultMaxAttempts
	case p.MaxAttempts < 0:
		return math.MaxInt
	}
	return p.MaxAttempts
}

func (p *Policy) initialDelay() time.Duration {
	switch {
	case p == nil || p.InitialDelay == 0:
		return DefaultInitialDelay
	case p.InitialDelay < 0:
		return 0
	}
	return p.InitialDelay
}

func (p *Policy) maxDelay() time.Duration {
	if p == nil || p.MaxDelay == 0 {
		return DefaultMaxDelay
	}
	return p.MaxDelay
}

func (p *Policy) multiplier() float64 {
	if p == nil || p.Multiplier == 0 {
		return DefaultMultiplier
	}
	return p.Multiplier
}

func (p *Policy) attemptTimeout() time.Duration {
	switch {
	case p == nil || p.AttemptTimeout == 0:
		return DefaultAttemptTimeout
	case p.AttemptTimeout < 0:
		return 0
	}
	return p.AttemptTimeout
}

func (p *Policy) maxServerDelay() time.Duration {
	switch {
	case p == nil || p.MaxServerDelay == 0:
		return DefaultMaxServerDelay
	case p.MaxServerDelay < 0:
		return math.MaxInt64
	}
	return p.MaxServerDelay
}

func (p *Policy) clock() Clock {
	if p == nil || p.Clock == nil {
		return RealClock{}
	}
	return p.Clock
}
