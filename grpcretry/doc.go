// Package grpcretry retries gRPC client calls as a [retry.Policy] says, with
// client interceptors:
//
//	policy := retry.Default()
//	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
//		grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(policy)))
//
// Each call runs through [retry.DoValue], with the policy's AttemptTimeout
// for each attempt and its waits, limits, budget and hooks. When the policy
// gives up, the call returns its [*retry.Error], whose gRPC status is the
// last attempt's.
//
// Retried: Unavailable, ResourceExhausted (see [Classify], asked after the
// policy's own Classifier) and an attempt that ran out of AttemptTimeout.
// DeadlineExceeded from the caller's deadline or the server, and every
// other code, is final. A RetryInfo detail or a grpc-retry-pushback-ms
// trailer sets the least wait, within MaxServerDelay; a negative pushback
// stops every retry layer with [retry.ErrOverloaded].
//
// A client cannot know whether the server acted on a call that failed, so
// only idempotent methods are retried after any transient failure: those
// whose .proto marks them IDEMPOTENT or NO_SIDE_EFFECTS, and those named with
// [WithIdempotent], [WithIdempotentFunc] or [WithNonIdempotent]. Others are
// retried only after a failure that shows the server did not act (see
// [UnaryClientInterceptor]). [StreamClientInterceptor] retries the opening
// of streams, and a failure before the first message of a server stream.
//
// Tests control time as with package retry: a retrytest clock in the
// policy, or testing/synctest.
package grpcretry
