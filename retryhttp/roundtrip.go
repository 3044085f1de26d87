package retryhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/deb4e658/retry"
)

// roundTrip is the state of one call to Transport.RoundTrip.
type roundTrip struct {
	t          *Transport
	req        *http.Request
	body       *requestBody
	key        string // the cool-down key of req
	gate       *gate
	replaySafe bool
	info       *info

	// last is the answer of the latest attempt when the policy retried its
	// status; lastCancel ends its attempt's context, unless the body was
	// already read into memory.
	last       *http.Response
	lastCancel context.CancelCauseFunc

	// slotOwed says the gate held this caller back, so the policy's own
	// limiter has yet to give it a slot (see gateLimiter).
	slotOwed bool

	// turnOwed says the host is paced and this caller has yet to get its
	// turn (see pacer.slot).
	turnOwed bool

	// heldBack says the gate or the policy's limiter made this caller
	// wait before the attempt, so another process may have paused the
	// host meanwhile (see waitGate).
	heldBack bool

	// inFlight says the gate counts this caller's request as in flight
	// (see gate.send) until answered ends it.
	inFlight bool

	// waitingSince is when this caller began to wait for answers to the
	// requests in flight (zero when it is not waiting): after
	// maxAnswerWait in all, it sends without waiting again.
	waitingSince time.Time
}

// attempt is the function the policy retries: wait out the host's
// cool-down, then send the request once under the attempt timeout.
func (rt *roundTrip) attempt(ctx context.Context) (*http.Response, error) {
	if err := rt.waitToSend(ctx); err != nil {
		return nil, err
	}

	// The body comes first: if it cannot be had again, the last answer is
	// still there to be returned as it came.
	n := retry.AttemptFrom(ctx)
	body, err := rt.body.forAttempt(n)
	if err != nil {
		rt.answered(nil, false, time.Time{})
		return nil, retry.Permanent(fmt.Errorf("%w: GetBody failed: %w",
			ErrBodyNotReplayable, err))
	}
	rt.dropLast()
	rt.info.attempts = n

	actx, cancel := context.WithCancelCause(ctx)
	var timer retry.Timer
	if d := rt.t.attemptTimeout; d > 0 {
		timer = rt.clock().AfterFunc(d, func() { cancel(retry.ErrAttemptTimeout) })
	}
	out := rt.req.WithContext(actx)
	out.Body = body
	sent := rt.clock().Now()
	resp, err := rt.t.base.RoundTrip(out)
	if timer != nil {
		timer.Stop()
	}
	resp, err = checkResponse(resp, err)

	if err != nil {
		rt.answered(nil, false, sent)
		timedOut := context.Cause(actx) == retry.ErrAttemptTimeout
		cancel(nil)
		return nil, rt.failure(ctx, err, timedOut)
	}
	return rt.answer(resp, sent, cancel)
}

// answered tells the gate that this caller's request in flight, sent at
// sent, has its answer h (nil for none), which admitted it or not.
func (rt *roundTrip) answered(h http.Header, admitted bool, sent time.Time) {
	if rt.inFlight {
		rt.inFlight = false
		rt.gate.answered(h, admitted, sent, rt.clock().Now())
	}
}

// failure turns a transport error into what the policy should see.
func (rt *roundTrip) failure(ctx context.Context, err error, timedOut bool) error {
	if timedOut && ctx.Err() == nil {
		err = fmt.Errorf("retryhttp: attempt timed out after %v: %w", rt.t.attemptTimeout, err)
		if rt.replaySafe {
			err = retry.Retryable(err)
		}
	}
	if !rt.body.replayable && rt.classify(err) == retry.Transient {
		return retry.Permanent(fmt.Errorf("%w: it is over %d bytes and has no GetBody: %w",
			ErrBodyNotReplayable, rt.t.maxBody, err))
	}
	if rt.unsafe(err) {
		return fmt.Errorf("%s: %w: %w", rt.unsafeWhy(), retry.ErrUnsafeRetry, err)
	}
	return err
}

// unsafe reports whether err is a failure the policy would retry for an
// idempotent request, but that this request may not repeat: it is not
// idempotent, and the failure does not prove the server ignored it.
func (rt *roundTrip) unsafe(err error) bool {
	if rt.replaySafe || notActedOn(err) {
		return false
	}
	if c := rt.t.policy.Classifier; c != nil {
		if class := c(err); class != retry.Unknown {
			return class == retry.Transient
		}
	}
	return retry.DefaultClassifier(err) == retry.Transient
}

func (rt *roundTrip) unsafeWhy() string {
	return fmt.Sprintf("retryhttp: %s %s is not retried: it may have reached the server "+
		"(an Idempotency-Key header would allow retries)", rt.req.Method, rt.req.URL.Redacted())
}

// checkResponse makes a base transport's odd answers regular, as
// http.Client does: a nil body becomes empty, and an answer that comes with
// an error, or neither, is an error.
func checkResponse(resp *http.Response, err error) (*http.Response, error) {
	switch {
	case err != nil:
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	case resp == nil:
		return nil, errNilResponse
	case resp.Body == nil:
		resp.Body = http.NoBody
	}
	return resp, nil
}

var errNilResponse = errors.New("retryhttp: the base RoundTripper returned neither " +
	"a response nor an error")

// answer handles a response: a status the policy retries becomes an error
// (the answer is kept in case it is the last); anything else is returned.
func (rt *roundTrip) answer(resp *http.Response, sent time.Time,
	cancel context.CancelCauseFunc) (*http.Response, error) {
	if d := rt.gate.observe(resp, sent, rt.clock().Now()); d > 0 && rt.t.shared != nil {
		rt.t.shared.Pause(rt.key, d)
	}
	rt.answered(resp.Header, resp.StatusCode < 400, sent)

	status := &retry.StatusError{StatusCode: resp.StatusCode, Header: resp.Header}
	if rt.unsafe(status) {
		rt.info.unsafe = rt.unsafeWhy()
	}
	if resp.StatusCode < 400 || !rt.body.replayable || rt.classify(status) != retry.Transient {
		if _, upgraded := resp.Body.(io.Writer); !upgraded {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		}
		return resp, nil
	}

	// Keep the answer readable in case no attempt follows; a small body is
	// read now so its connection goes back to the pool during the wait. A
	// body that stalls is cut off, on real time: this bounds a network read
	// and is no part of the schedule.
	rt.last, rt.lastCancel = resp, cancel
	stall := time.AfterFunc(drainTimeout, func() { cancel(errSlowBody) })
	buffered := bufferBody(resp)
	stall.Stop()
	if buffered {
		cancel(nil)
		rt.lastCancel = nil
	}
	return nil, status
}

// drainTimeout bounds the reading of an answer that is about to be retried.
const drainTimeout = 2 * time.Second

var errSlowBody = errors.New("retryhttp: the body of an answer to be retried " +
	"took too long to read")

// classify applies the idempotency rule before the policy's classifiers.
func (rt *roundTrip) classify(err error) retry.Class {
	if !rt.replaySafe && !notActedOn(err) {
		return retry.Final
	}
	if c := rt.t.policy.Classifier; c != nil {
		if class := c(err); class != retry.Unknown {
			return class
		}
	}
	return retry.DefaultClassifier(err)
}

// waitGate waits out a cool-down that began while this caller waited for
// its turn (the policy's limiter, which holds the gate, let it through
// before another caller's 429 closed the gate again), on the policy's clock.
// It releases the callers it holds spread out, as the gate does, so that
// they do not all go at the reset.
//
// With shared pauses, a caller that was held back asks the store again,
// and again after each wait here: a pause another process was asked for
// meanwhile must hold it too.
func (rt *roundTrip) waitGate(ctx context.Context) error {
	clock := rt.clock()
	ask := rt.heldBack
	rt.heldBack = false
	for {
		now := clock.Now()
		if ask {
			rt.syncShared(now)
		}
		d := rt.gate.closedFor(now)
		if d > 0 {
			d = rt.gate.wait(now, rt.releaseShare())
		}
		if d <= 0 || d > rt.t.maxServerDelay {
			return nil // see gateLimiter.Reserve for the long pause
		}
		if deadline, ok := ctx.Deadline(); ok && now.Add(d).After(deadline) {
			return retry.Permanent(fmt.Errorf("retryhttp: %s is cooling down for %v more, "+
				"past the context deadline: %w", rt.key, d, context.DeadlineExceeded))
		}

		if err := rt.sleep(ctx, d, nil); err != nil {
			return err
		}
		// A turn taken before the pause is spent: callers that took theirs
		// one after another must not all go when it ends.
		rt.slotOwed = rt.t.policy.Limiter != nil
		rt.turnOwed = true
		ask = true
	}
}

// waitToSend waits out the host's pause, then this caller's pacing turn
// and limiter slot when it still owes them; and looks at the pause again
// after any such wait, so that no request goes out before the time a host
// asked for.
func (rt *roundTrip) waitToSend(ctx context.Context) error {
	for {
		if err := rt.waitGate(ctx); err != nil {
			return err
		}
		waitedTurn, err := rt.waitTurn(ctx)
		if err != nil {
			return err
		}
		waitedSlot, err := rt.waitSlot(ctx)
		if err != nil {
			return err
		}
		if !waitedTurn && !waitedSlot {
			waitedAnswer, err := rt.waitAnswer(ctx)
			if err != nil || !waitedAnswer {
				return err
			}
		}
		// A pause may have begun during those waits, here or in another
		// process: waitGate looks (and asks the shared store) again.
		rt.heldBack = true
	}
}

// waitAnswer counts this caller's request as in flight, or, when those in
// flight may spend all the host said it has left, waits for the next
// answer (waited is true: the caller looks at the gate again). It waits
// maxAnswerWait at most, so that requests that hang do not hold it.
func (rt *roundTrip) waitAnswer(ctx context.Context) (waited bool, err error) {
	clock := rt.clock()
	now := clock.Now()
	if rt.waitingSince.IsZero() {
		rt.waitingSince = now
	}
	// The bound is on the whole wait, not on each: an answer wakes every
	// caller waiting, and one that arrives later may take the room first.
	left := maxAnswerWait - now.Sub(rt.waitingSince)
	answer := rt.gate.send(now, left <= 0)
	if answer == nil {
		rt.inFlight, rt.waitingSince = true, time.Time{}
		return false, nil
	}

	timer := clock.NewTimer(left)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case <-answer:
	case <-timer.C():
	}
	return true, nil
}

// maxAnswerWait bounds how long a caller waits for answers to the requests
// in flight before it spends what the host said it has left.
const maxAnswerWait = time.Second

// waitTurn waits for this caller's turn while the host is paced, when it
// was too far ahead to reserve before the attempt.
func (rt *roundTrip) waitTurn(ctx context.Context) (waited bool, err error) {
	clock := rt.clock()
	for rt.turnOwed {
		d, reserved := rt.gate.slot(clock.Now())
		rt.turnOwed = !reserved
		if d <= 0 {
			continue
		}
		if err := rt.sleep(ctx, d, nil); err != nil {
			return waited, err
		}
		waited = true
	}
	return waited, nil
}

// waitSlot takes the slot of the policy's limiter that a caller held back
// by the gate still owes, now that the gate is open.
func (rt *roundTrip) waitSlot(ctx context.Context) (waited bool, err error) {
	if !rt.slotOwed {
		return false, nil
	}
	rt.slotOwed = false
	clock := rt.clock()
	now := clock.Now()
	d, cancel, err := rt.t.policy.Limiter.Reserve(now)
	if err != nil {
		return false, retry.Permanent(fmt.Errorf("retryhttp: %w: %w", retry.ErrLimiter, err))
	}
	if d <= 0 {
		return false, nil
	}
	if deadline, ok := ctx.Deadline(); ok && now.Add(d).After(deadline) {
		if cancel != nil {
			cancel(now)
		}
		return false, retry.Permanent(fmt.Errorf("retryhttp: the limiter's next slot is %v "+
			"away, past the context deadline: %w", d, context.DeadlineExceeded))
	}
	return true, rt.sleep(ctx, d, cancel)
}

// sleep waits d on the policy's clock, or until ctx ends; cancel, when not
// nil, gives a limiter slot back if ctx ends first.
func (rt *roundTrip) sleep(ctx context.Context, d time.Duration,
	cancel func(time.Time)) error {
	clock := rt.clock()
	timer := clock.NewTimer(d)
	select {
	case <-ctx.Done():
		timer.Stop()
		if cancel != nil {
			cancel(clock.Now())
		}
		return ctx.Err()
	case <-timer.C():
		return nil
	}
}

// finish picks what RoundTrip returns once the policy is done.
func (rt *roundTrip) finish(ctx context.Context, resp *http.Response, err error) (
	*http.Response, error) {
	if err == nil {
		return resp, nil
	}
	if rt.last != nil && ctx.Err() == nil {
		errors.As(err, &rt.info.gaveUp)
		resp := rt.last
		if rt.lastCancel != nil {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: rt.lastCancel}
		}
		return resp, nil
	}
	rt.dropLast()
	return nil, err
}

// dropLast drains and closes a kept answer that is no longer needed.
func (rt *roundTrip) dropLast() {
	if rt.last == nil {
		return
	}
	if rt.lastCancel != nil {
		// A body too large to buffer is not worth draining: end the
		// attempt, which closes its connection, and close the body.
		rt.lastCancel(nil)
		rt.last.Body.Close()
	} else {
		discard(rt.last)
	}
	rt.last, rt.lastCancel = nil, nil
}

func (rt *roundTrip) clock() retry.Clock {
	if rt.t.policy.Clock != nil {
		return rt.t.policy.Clock
	}
	return retry.RealClock{}
}

// cancelOnClose ends an attempt's context when the caller closes the body,
// so the body stays readable after RoundTrip returns.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}
