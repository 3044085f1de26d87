package retry

import (
	"context"
	"errors"
	"time"
)

// layerKey is the context key under which an attempt's *layer is kept.
type layerKey struct{}

// layer is what an attempt's context tells the loops nested inside it.
type layer struct {
	attempt int
	depth   int       // 1 for the outermost loop
	limit   time.Time // the earliest time limit of this loop and all around it
}

func layerFrom(ctx context.Context) *layer {
	l, _ := ctx.Value(layerKey{}).(*layer)
	return l
}

// layerContext carries a layer in the same allocation as the context that
// holds it, which context.WithValue would make two.
type layerContext struct {
	context.Context
	layer layer
}

func (c *layerContext) Value(key any) any {
	if key == (layerKey{}) {
		return &c.layer
	}
	return c.Context.Value(key)
}

// AttemptFrom returns the number of the attempt whose context ctx is, or
// descends from: 1 for the first call, 2 for the first retry, and so on. It
// returns 1 for a context that no retry loop made, so a function behaves the
// same when called directly. Within nested loops it is the innermost loop's
// number.
func AttemptFrom(ctx context.Context) int {
	if l := layerFrom(ctx); l != nil {
		return l.attempt
	}
	return 1
}

// DepthFrom returns how many retry loops enclose ctx: 0 outside any, 1 in an
// attempt of a loop, 2 in an attempt of a loop nested in another's attempt.
func DepthFrom(ctx context.Context) int {
	if l := layerFrom(ctx); l != nil {
		return l.depth
	}
	return 0
}

// errAttemptOver is the cause of an attempt's context once its function has
// returned, so that a body read after that says why it cannot be read.
var errAttemptOver = errors.New("retry: an attempt's context ends when its function " +
	"returns; read the body inside it, or use retryhttp")

// attempt is the context of one attempt and what it takes to end it.
type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  Timer              // the attempt timeout on a clock other than RealClock
	stop   context.CancelFunc // the attempt timeout on RealClock
}

// startAttempt makes the context of attempt n. Every attempt's context
// carries its layer, so that a loop nested in it knows its depth and the
// time limits around it; that costs one allocation even on the success path.
func (c *call) startAttempt(ctx context.Context, n int) attempt {
	ctx = &layerContext{Context: ctx,
		layer: layer{attempt: n, depth: c.depth, limit: c.limitEnd()}}

	d := c.p.attemptTimeout()
	if d <= 0 {
		return attempt{ctx: ctx}
	}
	if _, real := c.clock.(RealClock); real {
		// The standard timer also gives the context a Deadline, which
		// network libraries read. The context around it carries the cause
		// of the end of the attempt, which the timer's cannot.
		cctx, cancel := context.WithCancelCause(ctx)
		actx, stop := context.WithTimeoutCause(cctx, d, ErrAttemptTimeout)
		return attempt{ctx: actx, cancel: cancel, stop: stop}
	}

	cctx, cancel := context.WithCancelCause(ctx)
	t := c.clock.AfterFunc(d, func() { cancel(ErrAttemptTimeout) })
	return attempt{ctx: timeoutContext{cctx}, cancel: cancel, timer: t}
}

// timeoutContext makes a timeout on another clock look like one on the real
// clock: its Err is context.DeadlineExceeded, not context.Canceled, so code
// that tells a shutdown from a timeout behaves the same in tests.
type timeoutContext struct{ context.Context }

func (c timeoutContext) Err() error {
	err := c.Context.Err()
	if err != nil && context.Cause(c.Context) == ErrAttemptTimeout {
		return context.DeadlineExceeded
	}
	return err
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
	a.cancel(errAttemptOver)
	if a.stop != nil {
		a.stop()
	}
	return timedOut
}
