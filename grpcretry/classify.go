package grpcretry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/deb4e658/retry"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// PushbackKey is the trailer in which a gRPC server asks the client to wait
// before it retries, in milliseconds; a negative value asks it not to retry
// (gRPC proposal A6).
const PushbackKey = "grpc-retry-pushback-ms"

// ErrNotIdempotent is wrapped into the error of a failed call that was not
// retried because its method is not known to be idempotent and the failure
// does not show that the server left it alone. Declare the method with
// WithIdempotent if it is safe to call twice.
var ErrNotIdempotent = errors.New("method not known to be idempotent")

// Classify is the classification of gRPC errors the interceptors put in
// front of retry.DefaultClassifier, after the policy's own Classifier:
//
//   - an error that matches retry.ErrAttemptTimeout is transient: the
//     interceptors give it to an attempt that ran out of the policy's
//     AttemptTimeout;
//   - a status with code Unavailable or ResourceExhausted is transient;
//   - a status with any other code is final, DeadlineExceeded included:
//     from the error alone, a server's DeadlineExceeded or the caller's own
//     cannot be told from an attempt's timeout, which the interceptors
//     recognise by the attempt's context instead;
//   - an error that holds no gRPC status is Unknown.
//
// Set it as the Classifier of a policy that retries a function making gRPC
// calls without the interceptors, or an enclosing loop's.
func Classify(err error) retry.Class {
	if errors.Is(err, retry.ErrAttemptTimeout) {
		return retry.Transient
	}
	s, ok := status.FromError(err)
	if !ok || s == nil || s.Code() == codes.OK {
		return retry.Unknown
	}
	switch s.Code() {
	case codes.Unavailable, codes.ResourceExhausted:
		return retry.Transient
	}
	return retry.Final
}

// failure is a failed attempt and what the interceptor knows of it.
type failure struct {
	ctx        context.Context // the caller's
	err        error
	idempotent bool

	// sent is false when the request cannot have reached the server: no
	// transport stream was made for it, or no message was sent on it.
	sent bool

	// headers is true when the server sent response headers before it
	// failed; it then committed to an answer, as gRPC's A6 puts it.
	headers bool
	trailer metadata.MD

	// timedOut is true when the attempt ran out of the policy's
	// AttemptTimeout while the caller's context was alive, after d; loopSaw
	// is true when the retry loop itself saw that (its attempt context
	// ended), so it retries the attempt without a mark.
	timedOut bool
	d        time.Duration
	loopSaw  bool
}

// judge returns the error the retry loop should see for a failed attempt:
// err as it is when the loop's own classification is right, or marked
// (retry.Permanent, retry.Retryable, retry.RetryAfter) or wrapping
// retry.ErrOverloaded when the interceptor knows better. Each step returns
// early; the loop asks the policy's Classifier and Classify in the same
// order as judge.
func (i *interceptor) judge(f failure) error {
	err := f.err
	if f.ctx.Err() != nil {
		return err // the caller's context ended: the loop stops with its reason
	}
	var inner *retry.Error
	if _, ok := status.FromError(err); (!ok && !f.timedOut) || errors.As(err, &inner) {
		// Not an answer of gRPC's, or a nested loop's give-up: the
		// policy's rules decide.
		return err
	}

	if f.timedOut {
		err = &timeoutError{err: err, d: f.d}
		switch {
		case f.sent && !f.idempotent:
			return retry.Permanent(fmt.Errorf("%w (%w: %w)", err, ErrNotIdempotent,
				retry.ErrUnsafeRetry))
		case f.loopSaw:
			return err
		}
		return retry.Retryable(err)
	}

	st := status.Convert(err)
	class := retry.Unknown
	if i.user != nil {
		class = i.user(err)
	}
	if class == retry.Unknown && st.Code() == codes.ResourceExhausted && f.headers {
		// Headers came first: the server committed to its answer, or this
		// client refused a reply over its size limit. A retry changes
		// neither, whatever the method.
		return retry.Permanent(err)
	}
	if class == retry.Unknown {
		class = Classify(err)
	}
	if class != retry.Transient {
		return err // final for the loop too: same classifiers, same order
	}

	d, p := pushback(st, f.trailer)
	switch {
	case p == pushbackStop:
		return fmt.Errorf("%w (%w: server pushback asks not to retry)", err, retry.ErrOverloaded)
	case p == pushbackInvalid:
		return retry.Permanent(fmt.Errorf("%w (invalid %s: not retried)", err, PushbackKey))
	case f.sent && !f.idempotent && !notActedOn(st.Code(), f.headers, p == pushbackDelay):
		// ErrUnsafeRetry carries the decision to every loop around this
		// one, so none of them sends the call again.
		return retry.Permanent(fmt.Errorf("%w (%w: %w)", err, ErrNotIdempotent,
			retry.ErrUnsafeRetry))
	case p == pushbackDelay:
		return retry.RetryAfter(err, d)
	}
	return err
}

// notActedOn reports whether a transient answer shows that the server did
// not act on the call: it answered at once, without response headers, that
// the client is over its quota or should come back later.
func notActedOn(code codes.Code, headers, askedDelay bool) bool {
	return !headers && (code == codes.ResourceExhausted || askedDelay)
}

// BUG(grpcretry): gRPC fails a request over the client's own send limit
// (grpc.MaxCallSendMsgSize) with ResourceExhausted before it leaves the
// client, and nothing but the message text tells that from a server's
// quota answer: it is retried until the policy gives up. The server never
// sees it, so this wastes only the waits.

// What a server's pushback says.
type pushbackKind int8

const (
	pushbackNone    pushbackKind = iota
	pushbackDelay                // wait at least the delay
	pushbackStop                 // a negative pushback: do not retry
	pushbackInvalid              // unparseable, or given twice: A6 says do not retry
)

// pushback reads the wait a server asked for: the grpc-retry-pushback-ms
// trailer, a google.rpc.RetryInfo detail of the status, or the longer of
// the two. A negative trailer value means stop, whatever RetryInfo says;
// a RetryInfo delay that is negative or out of range is ignored.
func pushback(st *status.Status, trailer metadata.MD) (time.Duration, pushbackKind) {
	var d time.Duration
	kind := pushbackNone
	switch vs := trailer.Get(PushbackKey); len(vs) {
	case 0:
	case 1:
		ms, err := strconv.ParseInt(vs[0], 10, 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			return 0, pushbackInvalid
		case ms < 0:
			return 0, pushbackStop
		}
		d, kind = millis(ms), pushbackDelay
	default:
		return 0, pushbackInvalid
	}

	for _, detail := range st.Details() {
		info, ok := detail.(*errdetails.RetryInfo)
		if !ok || info.GetRetryDelay() == nil || info.GetRetryDelay().CheckValid() != nil {
			continue
		}
		if rd := info.GetRetryDelay().AsDuration(); rd >= 0 {
			d, kind = max(d, rd), pushbackDelay
		}
	}
	return d, kind
}

// millis converts a count of milliseconds to a Duration, saturating where
// the product would overflow: the policy's MaxServerDelay turns it down.
func millis(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}
