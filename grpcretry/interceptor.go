package grpcretry

import (
	"context"
	"time"

	"github.com/deb4e658/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// interceptor holds what the unary and stream interceptors share. It keeps
// no state between calls.
type interceptor struct {
	policy retry.Policy     // the caller's, copied, with Classify behind its Classifier
	user   retry.Classifier // the policy's own Classifier
	clock  retry.Clock

	// stream is policy with AttemptTimeout off: a stream outlives the
	// attempt that opens it, so the interceptor times the opening itself.
	stream  retry.Policy
	timeout time.Duration // the policy's AttemptTimeout, 0 for none

	all      bool
	methods  map[string]bool
	services map[string]bool // "/package.Service/"
	funcs    []func(method string) bool
}

func newInterceptor(p *retry.Policy, opts []Option) *interceptor {
	i := &interceptor{methods: map[string]bool{}, services: map[string]bool{},
		clock: retry.RealClock{}}
	if p != nil {
		i.policy = *p
	}
	if i.policy.Clock != nil {
		i.clock = i.policy.Clock
	}
	i.user = i.policy.Classifier
	i.policy.Classifier = retry.Chain(i.user, Classify)

	i.stream = i.policy
	i.stream.AttemptTimeout = retry.Unlimited
	switch d := i.policy.AttemptTimeout; {
	case d == 0:
		i.timeout = retry.DefaultAttemptTimeout
	case d > 0:
		i.timeout = d
	}

	for _, o := range opts {
		if o != nil {
			o.apply(i)
		}
	}
	return i
}

// UnaryClientInterceptor returns an interceptor that runs each unary call
// through retry.Do with p (nil means the default policy). It copies p, so
// later changes to p do not reach it; an invalid p is reported by every
// call, as retry.Do reports it. The interceptor keeps no state between
// calls and is safe for concurrent use.
//
// Each attempt gets a context with the policy's AttemptTimeout and the
// caller's metadata and call options; the call options given to the call
// (grpc.Header, grpc.Trailer, grpc.Peer) see the last attempt. An attempt
// that ran out of its AttemptTimeout while the caller's context was alive
// is retried; one that ended with the caller's deadline or cancellation
// stops the call. Other failures are classified by the policy's Classifier,
// then Classify, then retry.DefaultClassifier.
//
// A method that is not known to be idempotent (see WithIdempotent) is
// retried only after a failure that shows the server did not act on it:
//
//   - the request never left the client: no connection could be had, so
//     gRPC made no stream for it (Unavailable, or an attempt timeout while
//     waiting for a connection);
//   - the server answered at once, without response headers, with
//     ResourceExhausted, or with a RetryInfo or pushback that asks for the
//     retry.
//
// Any other transient failure of such a method stops the call with
// retry.ErrNotRetryable and an error that matches ErrNotIdempotent.
//
// The server's RetryInfo detail or grpc-retry-pushback-ms trailer makes
// the wait at least what it asks (as retry.RetryAfter does); a request
// longer than the policy's MaxServerDelay stops the call with
// retry.ErrServerDelay, and a negative pushback with retry.ErrOverloaded,
// which stops enclosing retry loops too; an unreadable pushback stops this
// loop only (A6 says not to retry). Both count only on a failure the
// policy retries. A ResourceExhausted that follows
// response headers is final: the server committed to its answer, or the
// reply was over the client's size limit.
//
// When the policy gives up, the call returns the *retry.Error; its gRPC
// status (status.Code, status.FromError) is the last attempt's, or Canceled
// or DeadlineExceeded when the caller's context ended the call.
func UnaryClientInterceptor(p *retry.Policy, opts ...Option) grpc.UnaryClientInterceptor {
	return newInterceptor(p, opts).unary
}

func (i *interceptor) unary(ctx context.Context, method string, req, reply any,
	cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	idempotent := i.idempotent(method)
	err := i.policy.Do(ctx, func(actx context.Context) error {
		var o outcome
		err := invoker(actx, method, req, reply, cc, o.options(opts)...)
		if err == nil {
			return nil
		}

		f := failure{ctx: ctx, err: err, idempotent: idempotent, sent: o.peer.Addr != nil,
			headers: o.header != nil, trailer: o.trailer}
		f.timedOut, f.loopSaw = i.attemptTimedOut(ctx, actx)
		f.d = i.timeout
		return i.judge(f)
	})
	return callErr(err)
}

// outcome is what gRPC tells of one attempt through call options. gRPC
// fills them only when it made a transport stream for the attempt, so an
// empty peer means the request never left the client.
type outcome struct {
	peer    peer.Peer
	header  metadata.MD // nil unless the server sent response headers
	trailer metadata.MD
}

// options returns opts followed by the options that fill o, without
// changing the caller's slice.
func (o *outcome) options(opts []grpc.CallOption) []grpc.CallOption {
	all := make([]grpc.CallOption, 0, len(opts)+3)
	all = append(all, opts...)
	return append(all, grpc.Peer(&o.peer), grpc.Header(&o.header), grpc.Trailer(&o.trailer))
}

// attemptTimedOut reports whether the attempt whose context is actx ran
// out of the policy's AttemptTimeout while ctx, the caller's, was alive,
// and whether the retry loop saw it too. The loop sees it by the attempt
// context's cause, set when the timer fires; gRPC may fail the attempt a
// moment before that, when it finds the deadline already past as it
// starts the stream, and only the deadline tells then.
func (i *interceptor) attemptTimedOut(ctx, actx context.Context) (timedOut, loopSaw bool) {
	if ctx.Err() != nil {
		return false, false
	}
	if context.Cause(actx) == retry.ErrAttemptTimeout {
		return true, true
	}
	d, ok := actx.Deadline()
	if !ok || i.clock.Now().Before(d) {
		return false, false
	}
	// The attempt's deadline is the caller's when that comes first.
	cd, ok := ctx.Deadline()
	return !ok || d.Before(cd), false
}
