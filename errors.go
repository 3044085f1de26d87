package retry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The reasons a call gives up, each matched by errors.Is on the *Error that
// Do and DoValue return.
var (
	// ErrExhausted means every permitted attempt was made and failed, or a
	// backoff.BackOff schedule said Stop.
	ErrExhausted = errors.New("attempts exhausted")

	// ErrNotRetryable means the last error was final: the classifier said
	// so, or the function marked it with Permanent.
	ErrNotRetryable = errors.New("error not retryable")

	// ErrDeadline means the context's deadline passed, or would have passed
	// before the next wait or limiter slot ended.
	ErrDeadline = errors.New("context deadline")

	// ErrCanceled means the context was canceled.
	ErrCanceled = errors.New("context canceled")

	// ErrTimeLimit means the policy's TimeLimit or FailureTimeLimit passed,
	// or would have passed before the next wait ended.
	ErrTimeLimit = errors.New("time limit reached")

	// ErrServerDelay means the server asked for a longer wait than the
	// policy's MaxServerDelay allows. Error.ServerDelay holds the request.
	ErrServerDelay = errors.New("server delay too long")

	// ErrOverloaded is the signal that a dependency is overloaded and that
	// no layer should retry: a function (or classifier) wraps it into the
	// error of a server's "overloaded, do not retry" answer, and a spent
	// retry Budget gives it too. A loop that meets it stops at once, and so
	// does every loop around it, since the *Error it returns matches it.
	ErrOverloaded = errors.New("dependency overloaded")

	// ErrRetryBudget means the policy's Budget had no retry left: recent
	// calls have already been retried as much as the budget allows. It is
	// the client's own decision, not the server's; an *Error with this
	// reason also matches ErrOverloaded so that enclosing loops stop too.
	ErrRetryBudget = errors.New("retry budget spent")

	// ErrUnsafeRetry marks an error after which repeating the operation could
	// do it twice: a request that is not idempotent and may have reached the
	// server. Wrap it into such an error (retryhttp does); every loop that
	// meets it stops with ErrNotRetryable, the enclosing ones too.
	ErrUnsafeRetry = errors.New("not safe to retry")

	// ErrInvalidPolicy is matched by the error Validate returns.
	ErrInvalidPolicy = errors.New("retry: invalid policy")
)

// Error is the error Do and DoValue return when they give up. It wraps the
// reason (one of the Err… values above), the function's last error and,
// when the context ended, the context's cause, so that errors.Is and
// errors.As reach all three.
//
// The marks made with Permanent, Retryable and RetryAfter do not pass
// through an Error: an enclosing retry loop classifies the last error by its
// own rules.
type Error struct {
	// Reason says why retrying stopped: ErrExhausted, ErrNotRetryable,
	// ErrDeadline, ErrCanceled, ErrTimeLimit, ErrServerDelay, ErrOverloaded,
	// ErrRetryBudget or ErrLimiter.
	Reason error

	// Attempts is how many times the function was called.
	Attempts int

	// Elapsed is the time from the call to Do until it gave up.
	Elapsed time.Duration

	// Last is the function's last error, as it returned it, except that a
	// mark (Permanent, Retryable, RetryAfter) wrapped around the whole error
	// is taken off. It is nil only when no attempt was made.
	Last error

	// Cause is context.Cause of the context when the context ended, else
	// nil.
	Cause error

	// ServerDelay is the delay the server asked for after the last attempt,
	// as it asked (before the MinServerDelay floor), or 0 if it asked for
	// none. It is kept whatever ended the call, so a caller can schedule the
	// work for when the server is ready.
	ServerDelay time.Duration

	ctxErr error // ctx.Err() when it differs from Cause
}

// Error describes the outcome on one line, starting with "retry:".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("retry: gave up after ")
	b.WriteString(strconv.Itoa(e.Attempts))
	if e.Attempts == 1 {
		b.WriteString(" attempt in ")
	} else {
		b.WriteString(" attempts in ")
	}
	b.WriteString(roundElapsed(e.Elapsed).String())
	b.WriteString(" (")
	if e.Reason != nil {
		b.WriteString(e.Reason.Error())
	} else {
		b.WriteString("no reason given")
	}
	switch e.Reason {
	case ErrServerDelay:
		fmt.Fprintf(&b, ": asked for %v", e.ServerDelay)
	case ErrRetryBudget:
		b.WriteString(", client side")
	}
	b.WriteString(")")
	if e.Cause != nil && e.Cause != context.Canceled && e.Cause != context.DeadlineExceeded {
		// The reason already says "context canceled" or "context deadline";
		// only a cause of the caller's own is worth printing.
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	if e.Last != nil {
		b.WriteString(": ")
		b.WriteString(e.Last.Error())
	}
	return b.String()
}

// roundElapsed keeps three significant figures or so: "1.23s", "45.6ms".
func roundElapsed(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Unwrap returns the reason, the context's cause and the last error, for
// errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 5)
	if e.Reason != nil {
		errs = append(errs, e.Reason)
	}
	if e.Reason == ErrRetryBudget {
		errs = append(errs, ErrOverloaded)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	if e.ctxErr != nil {
		errs = append(errs, e.ctxErr)
	}
	if e.Last != nil {
		errs = append(errs, unmarked{e.Last})
	}
	return errs
}

// unmarked hides the retry marks inside err from errors.As while letting
// every other target through, so that a mark steers only the loop that saw
// it first.
type unmarked struct{ err error }

func (u unmarked) Error() string { return u.err.Error() }

func (u unmarked) Is(target error) bool { return errors.Is(u.err, target) }

func (u unmarked) As(target any) bool {
	if _, ok := target.(**mark); ok {
		return false
	}
	return errors.As(u.err, target)
}

// mark is the error type behind Permanent, Retryable and RetryAfter.
type mark struct {
	err   error
	class Class
	delay time.Duration // for RetryAfter; 0 otherwise
	after bool          // a RetryAfter mark, even with a zero delay
}

func (m *mark) Error() string { return m.err.Error() }
func (m *mark) Unwrap() error { return m.err }

// Permanent marks err as final: the retry loop that receives it stops at
// once with ErrNotRetryable, whatever the classifier would say. The mark
// works behind %w and errors.Join. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &mark{err: err, class: Final}
}

// Retryable marks err as worth another attempt, whatever the classifier
// would say. The policy's limits still apply. Retryable(nil) is nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &mark{err: err, class: Transient}
}

// RetryAfter marks err as worth another attempt after at least d, as if a
// server had asked for d in a Retry-After header. The wait is the larger of
// d and the policy's own delay, and at least MinServerDelay. A d longer than
// the policy's MaxServerDelay stops the loop with ErrServerDelay.
// RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &mark{err: err, class: Transient, delay: max(d, 0), after: true}
}

// findMark returns the mark that steers err: a Permanent mark anywhere in
// err's tree, else the first other mark, else nil. Final wins so that a
// joined error stops if any part of it says stop, whatever the order.
func findMark(err error) *mark {
	var first *mark
	var walk func(error) bool
	walk = func(err error) bool {
		switch e := err.(type) {
		case nil, unmarked:
			return false // an inner loop's marks are not ours
		case *mark:
			if e.class == Final {
				first = e
				return true
			}
			if first == nil {
				first = e
			}
			return walk(e.err)
		case interface{ Unwrap() error }:
			return walk(e.Unwrap())
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if walk(inner) {
					return true
				}
			}
		}
		return false
	}
	walk(err)
	return first
}

// asType finds the first error of type T in err's tree, as errors.As does,
// without the allocation that errors.As costs for a target on the stack.
// It steps through the unmarked wrapper of an inner loop's last error, and
// falls back on errors.As for a node with an As method of its own.
func asType[T error](err error) (T, bool) {
	var zero T
	for err != nil {
		if t, ok := err.(T); ok {
			return t, true
		}
		switch e := err.(type) {
		case unmarked:
			err = e.err
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if t, ok := asType[T](inner); ok {
					return t, true
				}
			}
			return zero, false
		case interface{ As(any) bool }:
			var t T
			ok := errors.As(err, &t)
			return t, ok
		default:
			return zero, false
		}
	}
	return zero, false
}

// stopSignal returns ErrOverloaded when errors.Is(err, ErrOverloaded), else
// ErrUnsafeRetry when errors.Is(err, ErrUnsafeRetry), else nil. It walks a
// plain chain once, where two calls of errors.Is would walk it twice and
// pay for reflection at each step: it runs after every failed attempt. A
// chain with an Is method or a join in it goes to errors.Is itself.
func stopSignal(err error) error {
	unsafe := false
	for err != nil {
		// The sentinels are pointers, so == never meets two values of the
		// same incomparable type, which would panic.
		switch err {
		case ErrOverloaded:
			return ErrOverloaded
		case ErrUnsafeRetry:
			unsafe = true
		}

		switch e := err.(type) {
		case unmarked:
			err = e.err
		case interface{ Is(error) bool }, interface{ Unwrap() []error }:
			if errors.Is(err, ErrOverloaded) {
				return ErrOverloaded
			}
			unsafe = unsafe || errors.Is(err, ErrUnsafeRetry)
			err = nil
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		default:
			err = nil
		}
	}
	if unsafe {
		return ErrUnsafeRetry
	}
	return nil
}
