package grpcretry_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/grpcretry"
	"github.com/deb4e658/retry/retrytest"
)

func TestUnary(t *testing.T) {
	idempotent := []grpcretry.Option{grpcretry.WithIdempotent(checkMethod)}
	unavailable := step{code: codes.Unavailable}
	tests := []struct {
		name       string
		giveSteps  []step
		giveOpts   []grpcretry.Option
		giveClass  retry.Classifier // the policy's own
		wantReason error            // nil for success
		wantIs     error            // another error the result must match
		wantCode   codes.Code
		wantCalls  int
		wantWaits  []time.Duration
	}{
		{name: "success", wantCalls: 1},
		{name: "unavailable_twice", giveSteps: []step{unavailable, unavailable},
			giveOpts: idempotent, wantCalls: 3, wantWaits: secs(1, 2)},
		{name: "unavailable_exhausts", giveSteps: []step{unavailable, unavailable,
			unavailable, unavailable}, giveOpts: idempotent, wantReason: retry.ErrExhausted,
			wantCode: codes.Unavailable, wantCalls: 4, wantWaits: secs(1, 2, 4)},
		{name: "unavailable_not_idempotent", giveSteps: []step{unavailable},
			wantReason: retry.ErrNotRetryable, wantIs: grpcretry.ErrNotIdempotent,
			wantCode: codes.Unavailable, wantCalls: 1},
		{name: "service_idempotent", giveSteps: []step{unavailable},
			giveOpts:  []grpcretry.Option{grpcretry.WithIdempotent("/grpc.health.v1.Health/")},
			wantCalls: 2, wantWaits: secs(1)},
		{name: "func_idempotent", giveSteps: []step{unavailable},
			giveOpts: []grpcretry.Option{grpcretry.WithIdempotentFunc(
				func(m string) bool { return m == checkMethod })},
			wantCalls: 2, wantWaits: secs(1)},
		{name: "all_idempotent", giveSteps: []step{unavailable},
			giveOpts:  []grpcretry.Option{grpcretry.WithNonIdempotent()},
			wantCalls: 2, wantWaits: secs(1)},
		{name: "resource_exhausted_retry_info_2s",
			giveSteps: []step{{code: codes.ResourceExhausted, retryInfo: true,
				retryDelay: 2 * time.Second}},
			wantCalls: 2, wantWaits: secs(2)},
		{name: "retry_info_shorter_than_backoff", giveOpts: idempotent,
			giveSteps: []step{unavailable, {code: codes.Unavailable, retryInfo: true,
				retryDelay: 500 * time.Millisecond}},
			wantCalls: 3, wantWaits: secs(1, 2)},
		{name: "resource_exhausted_without_delay",
			giveSteps: []step{{code: codes.ResourceExhausted}},
			wantCalls: 2, wantWaits: secs(1)},
		{name: "pushback_1500ms", giveOpts: idempotent,
			giveSteps: []step{{code: codes.Unavailable, pushback: "1500"}},
			wantCalls: 2, wantWaits: []time.Duration{1500 * time.Millisecond}},
		{name: "pushback_asks_for_retry",
			giveSteps: []step{{code: codes.Unavailable, pushback: "1500"}},
			wantCalls: 2, wantWaits: []time.Duration{1500 * time.Millisecond}},
		{name: "pushback_and_retry_info", giveOpts: idempotent,
			giveSteps: []step{{code: codes.Unavailable, pushback: "1500", retryInfo: true,
				retryDelay: 3 * time.Second}},
			wantCalls: 2, wantWaits: secs(3)},
		{name: "pushback_zero", giveOpts: idempotent,
			giveSteps: []step{{code: codes.Unavailable, pushback: "0"}},
			wantCalls: 2, wantWaits: secs(1)},
		{name: "negative_pushback", giveOpts: idempotent,
			giveSteps:  []step{{code: codes.Unavailable, pushback: "-1"}},
			wantReason: retry.ErrOverloaded, wantCode: codes.Unavailable, wantCalls: 1},
		{name: "invalid_pushback", giveOpts: idempotent,
			giveSteps:  []step{{code: codes.Unavailable, pushback: "soon"}},
			wantReason: retry.ErrNotRetryable, wantCode: codes.Unavailable, wantCalls: 1},
		{name: "pushback_on_final_code",
			giveSteps:  []step{{code: codes.InvalidArgument, pushback: "-1"}},
			wantReason: retry.ErrNotRetryable, wantCode: codes.InvalidArgument, wantCalls: 1},
		{name: "retry_info_over_max_server_delay",
			giveSteps: []step{{code: codes.ResourceExhausted, retryInfo: true,
				retryDelay: 10 * time.Minute}},
			wantReason: retry.ErrServerDelay, wantCode: codes.ResourceExhausted, wantCalls: 1},
		{name: "resource_exhausted_after_headers", giveOpts: idempotent,
			giveSteps:  []step{{code: codes.ResourceExhausted, header: true}},
			wantReason: retry.ErrNotRetryable, wantCode: codes.ResourceExhausted, wantCalls: 1},
		{name: "unavailable_after_headers", giveOpts: idempotent,
			giveSteps: []step{{code: codes.Unavailable, header: true}},
			wantCalls: 2, wantWaits: secs(1)},
		{name: "invalid_argument", giveOpts: idempotent,
			giveSteps:  []step{{code: codes.InvalidArgument}},
			wantReason: retry.ErrNotRetryable, wantCode: codes.InvalidArgument, wantCalls: 1},
		{name: "server_deadline_exceeded", giveOpts: idempotent,
			giveSteps:  []step{{code: codes.DeadlineExceeded}},
			wantReason: retry.ErrNotRetryable, wantCode: codes.DeadlineExceeded, wantCalls: 1},
		{name: "classifier_final_first", giveOpts: idempotent, giveSteps: []step{unavailable},
			giveClass:  func(error) retry.Class { return retry.Final },
			wantReason: retry.ErrNotRetryable, wantCode: codes.Unavailable, wantCalls: 1},
		{name: "classifier_makes_internal_transient", giveOpts: idempotent,
			giveSteps: []step{{code: codes.Internal}},
			giveClass: func(err error) retry.Class {
				if status.Code(err) == codes.Internal {
					return retry.Transient
				}
				return retry.Unknown
			},
			wantCalls: 2, wantWaits: secs(1)},
		{name: "classifier_transient_not_idempotent", giveSteps: []step{{code: codes.Internal}},
			giveClass:  func(error) retry.Class { return retry.Transient },
			wantReason: retry.ErrNotRetryable, wantIs: grpcretry.ErrNotIdempotent,
			wantCode: codes.Internal, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			p := fakePolicy(clk)
			p.Classifier = tt.giveClass
			h := start(t, newServer(tt.giveSteps...),
				grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(p, tt.giveOpts...)))

			err := drive(clk, func() error {
				_, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{})
				return err
			})

			assert.Equal(t, tt.wantCalls, h.srv.Calls(), "calls")
			assert.Equal(t, tt.wantWaits, clk.Waits(), "waits")
			if tt.wantReason == nil {
				require.NoError(t, err)
				return
			}
			var re *retry.Error
			require.ErrorAs(t, err, &re)
			assert.ErrorIs(t, err, tt.wantReason)
			assert.Equal(t, tt.wantCalls, re.Attempts)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			assert.Equal(t, tt.wantCode, status.Code(err), "status code of %v", err)
		})
	}
}

func secs(ns ...float64) []time.Duration {
	ds := make([]time.Duration, len(ns))
	for i, n := range ns {
		ds[i] = time.Duration(n * float64(time.Second))
	}
	return ds
}

func TestUnaryGiveUpStatus(t *testing.T) {
	clk := retrytest.NewClock()
	h := start(t, newServer(step{code: codes.ResourceExhausted, retryInfo: true,
		retryDelay: 10 * time.Minute}),
		grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(fakePolicy(clk))))

	_, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{})

	var re *retry.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 10*time.Minute, re.ServerDelay)
	st := status.Convert(err)
	assert.Equal(t, codes.ResourceExhausted, st.Code())
	assert.Equal(t, err.Error(), st.Message())
	require.Len(t, st.Details(), 1, "the RetryInfo is kept")
	info, ok := st.Details()[0].(*errdetails.RetryInfo)
	require.True(t, ok)
	assert.Equal(t, 10*time.Minute, info.GetRetryDelay().AsDuration())
}

func TestUnaryCanceledBeforeCall(t *testing.T) {
	h := start(t, newServer(), grpc.WithUnaryInterceptor(
		grpcretry.UnaryClientInterceptor(&retry.Policy{})))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{})

	assert.ErrorIs(t, err, retry.ErrCanceled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, codes.Canceled, status.Code(err))
	assert.Equal(t, 0, h.srv.Calls())
}

func TestUnaryInvalidPolicy(t *testing.T) {
	h := start(t, newServer(), grpc.WithUnaryInterceptor(
		grpcretry.UnaryClientInterceptor(&retry.Policy{MaxAttempts: -5})))

	_, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{})

	assert.ErrorIs(t, err, retry.ErrInvalidPolicy)
	assert.Equal(t, 0, h.srv.Calls())
}

// A call that never left the client, because no connection could be made,
// is retried whatever the method.
func TestUnaryNoConnection(t *testing.T) {
	clk := retrytest.NewClock()
	p := fakePolicy(clk)
	p.MaxAttempts = 3
	refused := grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
		return nil, errors.New("connection refused by the test")
	})
	h := start(t, newServer(), refused,
		grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(p)))

	err := drive(clk, func() error {
		_, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{})
		return err
	})

	var re *retry.Error
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.Equal(t, 3, re.Attempts)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, secs(1, 2), clk.Waits())
	assert.Equal(t, 0, h.srv.Calls())
}

// The same script over a real TCP connection on the loopback interface.
func TestUnaryTCP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	clk := retrytest.NewClock()
	srv := newServer(step{code: codes.Unavailable}, step{code: codes.ResourceExhausted,
		retryInfo: true, retryDelay: 2 * time.Second})
	h := serve(t, srv, lis, lis.Addr().String(), grpc.WithUnaryInterceptor(
		grpcretry.UnaryClientInterceptor(fakePolicy(clk), grpcretry.WithIdempotent(checkMethod))))

	err = drive(clk, func() error {
		resp, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return errors.New("unexpected answer " + resp.String())
		}
		return err
	})

	require.NoError(t, err)
	assert.Equal(t, 3, srv.Calls())
	assert.Equal(t, secs(1, 2), clk.Waits())
}

// Call options given to the call see the last attempt.
func TestUnaryCallOptions(t *testing.T) {
	clk := retrytest.NewClock()
	h := start(t, newServer(step{code: codes.Unavailable, pushback: "1500"}),
		grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(fakePolicy(clk))))
	var trailer metadata.MD

	err := drive(clk, func() error {
		_, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{},
			grpc.Trailer(&trailer))
		return err
	})

	require.NoError(t, err)
	assert.NotNil(t, trailer)
	assert.Empty(t, trailer.Get(grpcretry.PushbackKey), "the trailer of the last attempt")
	assert.Equal(t, 2, h.srv.Calls())
}

// A method whose .proto declares it free of side effects is retried
// without any option.
func TestUnaryDeclaredIdempotent(t *testing.T) {
	clk := retrytest.NewClock()
	h := start(t, newServer(step{code: codes.Unavailable}),
		grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(fakePolicy(clk))))
	resp := &healthpb.HealthCheckResponse{}

	err := drive(clk, func() error {
		return h.conn.Invoke(t.Context(), lookupMethod, &healthpb.HealthCheckRequest{}, resp)
	})

	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	assert.Equal(t, 2, h.srv.Calls())
	assert.Equal(t, secs(1), clk.Waits())
}

// An enclosing retry loop does not retry what the interceptor gave up on,
// and stops at once when the server said not to retry.
func TestUnaryLayers(t *testing.T) {
	unavailable := step{code: codes.Unavailable}
	tests := []struct {
		name       string
		giveSteps  []step
		wantReason error
		wantCalls  int
	}{
		{name: "inner_gave_up", giveSteps: []step{unavailable, unavailable, unavailable},
			wantReason: retry.ErrNotRetryable, wantCalls: 2},
		{name: "overloaded", giveSteps: []step{{code: codes.Unavailable, pushback: "-1"}},
			wantReason: retry.ErrOverloaded, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			inner := fakePolicy(clk)
			inner.MaxAttempts = 2
			h := start(t, newServer(tt.giveSteps...), grpc.WithUnaryInterceptor(
				grpcretry.UnaryClientInterceptor(inner, grpcretry.WithIdempotent(checkMethod))))
			outer := fakePolicy(clk)
			outer.Classifier = grpcretry.Classify

			err := drive(clk, func() error {
				return outer.Do(t.Context(), func(ctx context.Context) error {
					_, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{})
					return err
				})
			})

			var re *retry.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, 1, re.Attempts, "outer attempts")
			assert.Equal(t, tt.wantReason, re.Reason)
			assert.Equal(t, tt.wantCalls, h.srv.Calls())
		})
	}
}

// A call that is not idempotent and may have reached the server is sent
// once, however many loops enclose the interceptor.
func TestUnaryNotIdempotentThroughLayers(t *testing.T) {
	clk := retrytest.NewClock()
	h := start(t, newServer(step{code: codes.Unavailable}), grpc.WithUnaryInterceptor(
		grpcretry.UnaryClientInterceptor(fakePolicy(clk))))
	outer := fakePolicy(clk)
	outer.Classifier = grpcretry.Classify

	err := drive(clk, func() error {
		return outer.Do(t.Context(), func(ctx context.Context) error {
			_, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		})
	})

	assert.Equal(t, 1, h.srv.Calls())
	assert.ErrorIs(t, err, retry.ErrUnsafeRetry)
	assert.ErrorIs(t, err, grpcretry.ErrNotIdempotent)
}

// A reply over the client's size limit fails with ResourceExhausted after
// the server answered: a retry would fail the same way.
func TestUnaryReplyTooLarge(t *testing.T) {
	clk := retrytest.NewClock()
	h := start(t, newServer(), grpc.WithUnaryInterceptor(
		grpcretry.UnaryClientInterceptor(fakePolicy(clk), grpcretry.WithNonIdempotent())))

	_, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{},
		grpc.MaxCallRecvMsgSize(1))

	assert.ErrorIs(t, err, retry.ErrNotRetryable)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, 1, h.srv.Calls())
	assert.Empty(t, clk.Waits())
}
