package retry

import "context"

// attemptKey is the context key under which an attempt's number is kept.
type attemptKey struct{}

// AttemptFrom returns the number of the attempt whose context ctx is, or
// descends from: 1 for the first call, 2 for the first retry, and so on. It
// returns 1 for a context that no retry loop made, so a function behaves the
// same when called directly.
func AttemptFrom(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

// attempt is the context of one attempt and what it takes to end it.
type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  Timer // the attempt timeout on a clock other than RealClock
}

// startAttempt makes the context of attempt n. The first attempt of a loop
// that no other loop encloses needs no new context for its number, which
// keeps the success path free of allocations when there is no timeout.
func (c *call) startAttempt(ctx context.Context, n int) attempt {
	if n > 1 || ctx.Value(attemptKey{}) != nil {
		ctx = context.WithValue(ctx, attemptKey{}, n)
	}

	d := c.p.attemptTimeout()
	if d <= 0 {
		return attempt{ctx: ctx}
	}
	if _, real := c.clock.(RealClock); real {
		// The standard timer also gives the context a Deadline, which
		// network libraries read.
		actx, cancel := context.WithTimeoutCause(ctx, d, ErrAttemptTimeout)
		return attempt{ctx: actx, cancel: func(error) { cancel() }}
	}

	actx, cancel := context.WithCancelCause(ctx)
	t := c.clock.AfterFunc(d, func() { cancel(ErrAttemptTimeout) })
	return attempt{ctx: actx, cancel: cancel, timer: t}
}

// finish releases the attempt's context and reports whether its timeout
// ended it, as opposed to the caller's context or nothing at all.
func (a attempt) finish() bool {
	if a.cancel == nil {
		return false
	}
	timedOut := context.Cause(a.ctx) == ErrAttemptTimeout
	if a.timer != nil {
		a.timer.Stop()
	}
	a.cancel(context.Canceled)
	return timedOut
}
