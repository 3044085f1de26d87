// Package retry makes calls to flaky, rate-limited services succeed without
// hammering them.
//
// A [Policy] says how often and how patiently to try; its [Policy.Do] method
// runs a function until it succeeds or the policy gives up:
//
//	err := retry.Default().Do(ctx, func(ctx context.Context) error {
//		return callTheService(ctx)
//	})
//
// [DoValue] does the same for a function that returns a value.
//
// Whether an error is worth another attempt is decided in this order: a mark
// the function put on it ([Permanent], [Retryable], [RetryAfter]); an
// attempt that ran out of its AttemptTimeout, which is retried; the policy's
// [Classifier]; [DefaultClassifier], which retries HTTP 408, 429 and 5xx
// answers given as a [StatusError] and common network failures. What nobody
// recognises is final. A server's Retry-After (see [ParseRetryAfter]) is
// honoured within the policy's MaxServerDelay.
//
// When the call gives up, the returned [*Error] wraps the function's last
// error and says why it stopped ([ErrExhausted], [ErrNotRetryable],
// [ErrDeadline], [ErrCanceled], [ErrTimeLimit], [ErrServerDelay]).
//
// Every wait goes through the policy's [Clock]. Tests replace it with the
// fake clock of package retrytest, or run under testing/synctest, and so
// never sleep.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// ErrAttemptTimeout is the cause (see context.Cause) of the context passed
// to an attempt that ran out of the policy's AttemptTimeout.
var ErrAttemptTimeout = errors.New("retry: attempt timed out")

var errNilArgument = errors.New("retry: Do and DoValue need a non-nil context and function")

// ErrLimiter is the reason given when the policy's Limiter returned an
// error instead of a slot.
var ErrLimiter = errors.New("limiter refused")

// Do calls fn until it succeeds or the policy gives up, and returns nil or
// an *Error that wraps fn's last error. fn receives a context that carries
// the attempt's timeout and its number (see AttemptFrom).
//
// Do makes no call when ctx is already done. It waits between attempts as
// the policy says, and returns at once when ctx ends during a wait. It never
// starts a wait that would end after ctx's deadline or the policy's time
// limits, and never waits after the last permitted attempt. When several
// limits apply, the first one reached ends the call. An invalid policy is
// reported by the error of Validate, before any call.
func (p *Policy) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	if fn == nil {
		return errNilArgument
	}
	_, err := DoValue(ctx, p, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	})
	return err
}

// DoValue is Do for a function that returns a value: it returns the value of
// the first successful attempt, or the zero value and an *Error. A nil p is
// the default policy.
//
// With an AttemptTimeout, the attempt's context ends when fn returns, so a
// value that still reads from it, such as an *http.Response whose body is
// unread, must be read inside fn (or use package retryhttp, whose bodies stay
// readable). Without one, fn's context is ctx with the attempt's number.
func DoValue[T any](ctx context.Context, p *Policy,
	fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if err := p.Validate(); err != nil {
		return zero, err
	}
	if ctx == nil || fn == nil {
		return zero, errNilArgument
	}

	c := call{ctx: ctx, p: p, clock: p.clock(), maxAttempts: p.maxAttempts(), depth: 1}
	if c.outer = layerFrom(ctx); c.outer != nil {
		c.depth = c.outer.depth + 1
	}
	c.start = readStart(c.clock)
	for n := 1; ; n++ {
		if err := c.beforeAttempt(ctx); err != nil {
			return zero, err
		}

		a := c.startAttempt(ctx, n)
		v, err := fn(a.ctx)
		timedOut := a.finish()
		if err == nil {
			c.succeeded()
			return v, nil
		}

		if err := c.afterFailure(ctx, err, timedOut); err != nil {
			return zero, err
		}
	}
}

// call is the state of one call to Do; the Policy itself holds none.
type call struct {
	ctx         context.Context // the caller's, for the hooks
	p           *Policy
	clock       Clock
	maxAttempts int
	start       callStart
	failedAt    time.Time // end of the first failed attempt
	attempts    int
	last        error
	prevDelay   time.Duration
	serverDelay time.Duration   // what the server asked after the last attempt
	schedule    backoff.BackOff // from p.Backoff, made at the first failure
	outer       *layer          // the attempt of an enclosing loop, if any
	depth       int
}

// beforeAttempt checks the context and the time limit and waits for the
// limiter. A non-nil result is the error to return.
func (c *call) beforeAttempt(ctx context.Context) error {
	if ctx.Err() != nil {
		return c.giveUpContext(ctx)
	}
	if c.attempts > 0 && c.bounded() && c.pastTimeLimit(c.now()) {
		return c.giveUp(ErrTimeLimit, nil)
	}
	if c.p == nil || c.p.Limiter == nil {
		return nil
	}

	now := c.now()
	wait, cancel, err := c.p.Limiter.Reserve(now)
	if err != nil {
		return c.giveUp(ErrLimiter, err)
	}
	if wait <= 0 {
		return nil
	}
	if err := c.checkWait(ctx, now, wait); err != nil {
		if cancel != nil {
			cancel(now)
		}
		return err
	}
	if h := c.p.Hooks.OnLimiterWait; h != nil {
		h(c.ctx, wait)
	}
	if err := c.wait(ctx, wait); err != nil {
		if cancel != nil {
			cancel(c.now())
		}
		return err
	}
	return nil
}

// afterFailure decides what follows a failed attempt and, when it is
// another attempt, waits for it. A non-nil result is the error to return.
func (c *call) afterFailure(ctx context.Context, err error, timedOut bool) error {
	c.attempts++
	c.last = err
	if m, ok := err.(*mark); ok {
		// The mark has done its work here; an outer loop must not see it.
		c.last = m.err
	}
	var now time.Time
	if c.needsNow(ctx) {
		now = c.now()
		if c.failedAt.IsZero() {
			c.failedAt = now
		}
	}

	if ctx.Err() != nil {
		return c.giveUpContext(ctx)
	}
	reason, serverDelay, asked, stop := c.classify(err, timedOut)
	c.serverDelay = serverDelay
	c.observe(err, now, asked)
	if stop != nil {
		return c.giveUp(stop, nil)
	}
	if c.attempts >= c.maxAttempts {
		return c.giveUp(ErrExhausted, nil)
	}
	if serverDelay > c.p.maxServerDelay() {
		return c.giveUp(ErrServerDelay, nil)
	}

	delay, stop := c.nextDelay(serverDelay, asked)
	if stop != nil {
		return stop
	}
	if err := c.checkWait(ctx, now, delay); err != nil {
		return err
	}
	if b := c.budget(); b != nil && !b.Withdraw(now) {
		return c.giveUp(ErrRetryBudget, nil)
	}

	if c.p != nil && c.p.Hooks.OnRetry != nil {
		c.p.Hooks.OnRetry(c.ctx, Event{Attempt: c.attempts, MaxAttempts: c.limitForEvents(),
			Depth: c.depth, Err: err, Reason: reason, Delay: delay, ServerDelay: serverDelay,
			Elapsed: now.Sub(c.start.time())})
	}
	return c.wait(ctx, delay)
}

// classify returns why err deserves another attempt, or the reason to
// stop, and the delay a server asked for (asked is false when it asked for
// none). The order: the overload and unsafe signals, a mark made by the function, a
// timeout, an inner loop's give-up (a server delay too long for it is
// retried here, after the delay), the classifiers.
func (c *call) classify(err error, timedOut bool) (
	why string, serverDelay time.Duration, asked bool, stop error) {
	switch stopSignal(err) {
	case ErrOverloaded:
		return "", 0, false, ErrOverloaded
	case ErrUnsafeRetry:
		return "", 0, false, ErrNotRetryable
	}
	if m := findMark(err); m != nil {
		if m.class == Final {
			return "", 0, false, ErrNotRetryable
		}
		if m.after {
			return "marked retryable", m.delay, true, nil
		}
		d, asked := c.askedDelay(err)
		return "marked retryable", d, asked, nil
	}

	serverDelay, asked = c.askedDelay(err)
	if timedOut {
		return "attempt timeout", serverDelay, asked, nil
	}
	if inner, ok := asType[*Error](err); ok && inner != nil && inner.Reason == ErrServerDelay {
		// The inner loop could not wait as long as the server asked; this
		// loop may, within its own MaxServerDelay.
		return "server delay", serverDelay, asked, nil
	}
	if isGiveUp(err) {
		if c.p == nil || !c.p.RetryInnerGiveUps {
			return "", serverDelay, asked, ErrNotRetryable
		}
		return "inner give-up", serverDelay, asked, nil
	}

	class := Unknown
	if c.p != nil && c.p.Classifier != nil {
		class = c.p.Classifier(err)
	}
	if class == Unknown {
		class = DefaultClassifier(err)
	}
	if class != Transient {
		return "", serverDelay, asked, ErrNotRetryable
	}
	return "transient", serverDelay, asked, nil
}

// askedDelay is the delay a server asked for, as an inner loop's *Error
// reports it or as the headers of a *StatusError in err say.
func (c *call) askedDelay(err error) (time.Duration, bool) {
	if inner, ok := asType[*Error](err); ok && inner != nil && inner.ServerDelay > 0 {
		// An inner loop already read the server's answer (and may have
		// given up because it could not wait that long).
		return inner.ServerDelay, true
	}

	status, ok := asType[*StatusError](err)
	if !ok || status == nil || status.Header == nil {
		return 0, false
	}
	// The clock itself, not c.now: an HTTP date is read against the wall
	// clock, which c.now may have strayed from.
	return ParseRetryAfter(status.Header, c.clock.Now())
}

// nextDelay returns the wait before the next attempt: the schedule's
// delay, or the server's if that is longer, and never less than
// MinServerDelay when the server asked. A non-nil error is the error to
// return: the schedule said stop, or a Backoff func misbehaved.
func (c *call) nextDelay(serverDelay time.Duration, asked bool) (time.Duration, error) {
	var d time.Duration
	if c.p != nil && c.p.Backoff != nil {
		if c.schedule == nil {
			if c.schedule = c.p.Backoff(); c.schedule == nil {
				return 0, c.giveUp(ErrInvalidPolicy, errNilBackOff)
			}
		}
		d = c.schedule.NextBackOff()
		if d == backoff.Stop {
			return 0, c.giveUp(ErrExhausted, nil)
		}
	} else {
		d = c.p.DelayBefore(c.attempts+1, c.prevDelay)
		c.prevDelay = d
	}
	if asked {
		d = max(d, serverDelay, MinServerDelay)
	}
	return max(d, 0), nil
}

var errNilBackOff = errors.New("Policy.Backoff returned a nil backoff.BackOff")

// checkWait refuses a wait of d from now that would end after the context's
// deadline or the policy's time limits.
func (c *call) checkWait(ctx context.Context, now time.Time, d time.Duration) error {
	deadline, hasDeadline := ctx.Deadline()
	bounded := c.bounded()
	if !hasDeadline && !bounded {
		return nil
	}
	end := now.Add(d)
	if hasDeadline && end.After(deadline) {
		return c.giveUp(ErrDeadline, context.DeadlineExceeded)
	}
	if bounded && c.pastTimeLimit(end) {
		return c.giveUp(ErrTimeLimit, nil)
	}
	return nil
}

// needsNow reports whether anything after a failed attempt reads the time:
// a deadline or time limit to check the wait against, an adaptive limiter
// to tell, a budget to draw from, a hook to report the elapsed time to (a
// time limit also needs the end of the first failure). A loop with none of
// them does not read the clock between attempts.
func (c *call) needsNow(ctx context.Context) bool {
	if _, ok := ctx.Deadline(); ok || c.bounded() {
		return true
	}
	if c.p == nil {
		return false
	}
	_, observer := c.p.Limiter.(Observer)
	return observer || c.p.Budget != nil || c.p.Hooks.OnRetry != nil
}

// bounded reports whether any time limit binds this loop, so that the clock
// need not be read to find out.
func (c *call) bounded() bool {
	return (c.outer != nil && !c.outer.limit.IsZero()) ||
		(c.p != nil && (c.p.TimeLimit > 0 || c.p.FailureTimeLimit > 0))
}

// pastTimeLimit reports whether t lies after TimeLimit, FailureTimeLimit or
// the time limit of an enclosing loop.
func (c *call) pastTimeLimit(t time.Time) bool {
	end := c.limitEnd()
	return !end.IsZero() && t.After(end)
}

// limitEnd is the earliest end of the time limits that bind this loop, or
// the zero time when none does.
func (c *call) limitEnd() time.Time {
	var end time.Time
	earliest := func(t time.Time) {
		if end.IsZero() || t.Before(end) {
			end = t
		}
	}
	if c.outer != nil && !c.outer.limit.IsZero() {
		earliest(c.outer.limit)
	}
	if c.p == nil {
		return end
	}
	if l := c.p.TimeLimit; l > 0 {
		earliest(c.start.time().Add(l))
	}
	if l := c.p.FailureTimeLimit; l > 0 && !c.failedAt.IsZero() {
		earliest(c.failedAt.Add(l))
	}
	return end
}

// wait blocks for d on the policy's clock, or until ctx ends. A context
// that ends as the timer fires still wins.
func (c *call) wait(ctx context.Context, d time.Duration) error {
	if d > 0 {
		t := c.clock.NewTimer(d)
		if t == nil {
			return c.giveUp(ErrInvalidPolicy, errNilTimer)
		}
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C():
		}
	}
	if ctx.Err() != nil {
		return c.giveUpContext(ctx)
	}
	return nil
}

func (c *call) giveUpContext(ctx context.Context) error {
	reason := ErrCanceled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		reason = ErrDeadline
	}
	err := c.giveUp(reason, context.Cause(ctx)).(*Error)
	if err.Cause != ctx.Err() {
		// A cause set with WithCancelCause hides ctx.Err; keep both
		// reachable, so errors.Is(err, context.Canceled) holds either way.
		err.ctxErr = ctx.Err()
	}
	return err
}

// giveUp builds the error to return and calls the give-up hook.
func (c *call) giveUp(reason, cause error) error {
	err := &Error{Reason: reason, Attempts: c.attempts, Last: c.last, Cause: cause,
		ServerDelay: c.serverDelay, Elapsed: c.now().Sub(c.start.time())}
	if c.p != nil && c.p.Hooks.OnGiveUp != nil {
		c.p.Hooks.OnGiveUp(c.ctx, err)
	}
	return err
}

func (c *call) limitForEvents() int {
	if c.p != nil && c.p.MaxAttempts == Unlimited {
		return Unlimited
	}
	return c.maxAttempts
}

var errNilTimer = errors.New("Policy.Clock.NewTimer returned a nil Timer")

func (c *call) budget() RetryBudget {
	if c.p == nil {
		return nil
	}
	return c.p.Budget
}

// succeeded tells the budget, an adaptive limiter and the success hook that
// a call went through. It reads the clock only when one of them is there to
// tell.
func (c *call) succeeded() {
	if c.p == nil || (c.p.Budget == nil && c.p.Limiter == nil && c.p.Hooks.OnSuccess == nil) {
		return
	}
	now := c.now()
	if h := c.p.Hooks.OnSuccess; h != nil {
		h(c.ctx, c.attempts+1, now.Sub(c.start.time()))
	}
	if c.p.Budget != nil {
		c.p.Budget.Deposit(now)
	}
	if o, ok := c.p.Limiter.(Observer); ok {
		o.Observe(now, Succeeded)
	}
}

// observe tells an adaptive limiter that an attempt failed, and whether the
// server throttled without saying for how long.
func (c *call) observe(err error, now time.Time, asked bool) {
	if c.p == nil {
		return
	}
	o, ok := c.p.Limiter.(Observer)
	if !ok {
		return
	}
	var status *StatusError
	if !asked && errors.As(err, &status) && status != nil &&
		IsRateLimited(status.StatusCode, status.Header) {
		o.Observe(now, Throttled)
		return
	}
	o.Observe(now, Failed)
}

// isGiveUp reports whether err holds the *Error of a loop that spent its
// attempts or its time.
func isGiveUp(err error) bool {
	return errors.Is(err, ErrExhausted) || errors.Is(err, ErrTimeLimit)
}
