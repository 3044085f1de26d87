package grpcretry_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/grpcretry"
	"github.com/deb4e658/retry/retrytest"
)

// The first receive of a server-streaming call is retried as a unary call
// would be.
func TestStreamFirstReceive(t *testing.T) {
	idempotent := []grpcretry.Option{grpcretry.WithIdempotent(watchMethod)}
	unavailable := step{code: codes.Unavailable}
	tests := []struct {
		name       string
		giveSteps  []step
		giveOpts   []grpcretry.Option
		wantReason error // nil when the first receive succeeds
		wantIs     error
		wantCode   codes.Code
		wantCalls  int
		wantWaits  []time.Duration
	}{
		{name: "success", wantCalls: 1},
		{name: "unavailable_twice", giveSteps: []step{unavailable, unavailable},
			giveOpts: idempotent, wantCalls: 3, wantWaits: secs(1, 2)},
		{name: "unavailable_exhausts", giveOpts: idempotent,
			giveSteps:  []step{unavailable, unavailable, unavailable, unavailable},
			wantReason: retry.ErrExhausted, wantCode: codes.Unavailable, wantCalls: 4,
			wantWaits: secs(1, 2, 4)},
		{name: "unavailable_not_idempotent", giveSteps: []step{unavailable},
			wantReason: retry.ErrNotRetryable, wantIs: grpcretry.ErrNotIdempotent,
			wantCode: codes.Unavailable, wantCalls: 1},
		{name: "resource_exhausted_not_idempotent",
			giveSteps: []step{{code: codes.ResourceExhausted}}, wantCalls: 2, wantWaits: secs(1)},
		{name: "retry_info_2s", giveSteps: []step{{code: codes.ResourceExhausted,
			retryInfo: true, retryDelay: 2 * time.Second}}, wantCalls: 2, wantWaits: secs(2)},
		{name: "pushback_1500ms", giveOpts: idempotent,
			giveSteps: []step{{code: codes.Unavailable, pushback: "1500"}},
			wantCalls: 2, wantWaits: []time.Duration{1500 * time.Millisecond}},
		{name: "negative_pushback", giveOpts: idempotent,
			giveSteps:  []step{{code: codes.Unavailable, pushback: "-1"}},
			wantReason: retry.ErrOverloaded, wantCode: codes.Unavailable, wantCalls: 1},
		{name: "invalid_argument", giveOpts: idempotent,
			giveSteps:  []step{{code: codes.InvalidArgument}},
			wantReason: retry.ErrNotRetryable, wantCode: codes.InvalidArgument, wantCalls: 1},
		{name: "resource_exhausted_after_headers", giveOpts: idempotent,
			giveSteps:  []step{{code: codes.ResourceExhausted, header: true}},
			wantReason: retry.ErrNotRetryable, wantCode: codes.ResourceExhausted, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			h := start(t, newServer(tt.giveSteps...), grpc.WithStreamInterceptor(
				grpcretry.StreamClientInterceptor(fakePolicy(clk), tt.giveOpts...)))
			var resp *healthpb.HealthCheckResponse

			err := drive(clk, func() error {
				stream, err := h.health.Watch(t.Context(), &healthpb.HealthCheckRequest{})
				if err != nil {
					return err
				}
				resp, err = stream.Recv()
				return err
			})

			assert.Equal(t, tt.wantCalls, h.srv.Calls(), "calls")
			assert.Equal(t, tt.wantWaits, clk.Waits(), "waits")
			if tt.wantReason == nil {
				require.NoError(t, err)
				assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
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

// What the caller has seen of a stream is never replaced: a failure after
// the first message, or after the caller read the headers, comes as gRPC
// gives it.
func TestStreamNotRetriedOnceSeen(t *testing.T) {
	tests := []struct {
		name       string
		giveStep   step
		giveHeader bool // the caller asks for the headers first
		wantRecv   int  // messages received before the failure
	}{
		{name: "after_first_message", giveStep: step{code: codes.Unavailable, messages: 1},
			wantRecv: 1},
		{name: "after_header", giveStep: step{code: codes.Unavailable, header: true},
			giveHeader: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			h := start(t, newServer(tt.giveStep), grpc.WithStreamInterceptor(
				grpcretry.StreamClientInterceptor(fakePolicy(clk),
					grpcretry.WithIdempotent(watchMethod))))

			stream, err := h.health.Watch(t.Context(), &healthpb.HealthCheckRequest{})
			require.NoError(t, err)
			if tt.giveHeader {
				md, err := stream.Header()
				require.NoError(t, err)
				assert.Equal(t, []string{"header"}, md.Get("x-step"))
			}
			for range tt.wantRecv {
				_, err := stream.Recv()
				require.NoError(t, err)
			}
			_, err = stream.Recv()

			var re *retry.Error
			assert.False(t, errors.As(err, &re), "not the retry loop's: %v", err)
			assert.Equal(t, codes.Unavailable, status.Code(err))
			assert.Equal(t, 1, h.srv.Calls())
			assert.Empty(t, clk.Waits())
		})
	}
}

// Opening a stream that cannot reach any server is retried, for every kind
// of stream and method.
func TestStreamSetupNoConnection(t *testing.T) {
	tests := []struct {
		name string
		open func(h *harness) error
	}{
		{name: "server_streaming", open: func(h *harness) error {
			_, err := h.health.Watch(context.Background(), &healthpb.HealthCheckRequest{})
			return err
		}},
		{name: "bidirectional", open: func(h *harness) error {
			_, err := h.test.FullDuplexCall(context.Background())
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock()
			p := fakePolicy(clk)
			p.MaxAttempts = 3
			refused := grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
				return nil, errors.New("connection refused by the test")
			})
			h := start(t, newServer(), refused,
				grpc.WithStreamInterceptor(grpcretry.StreamClientInterceptor(p)))

			err := drive(clk, func() error { return tt.open(h) })

			var re *retry.Error
			require.ErrorAs(t, err, &re)
			assert.ErrorIs(t, err, retry.ErrExhausted)
			assert.Equal(t, 3, re.Attempts)
			assert.Equal(t, codes.Unavailable, status.Code(err))
			assert.Equal(t, secs(1, 2), clk.Waits())
		})
	}
}

// An opening that waits for a connection longer than the AttemptTimeout is
// given up and tried again; the stream then outlives that timeout.
func TestStreamSetupTimeout(t *testing.T) {
	clk := retrytest.NewClock()
	p := &retry.Policy{Clock: clk, MaxAttempts: 3, InitialDelay: time.Second,
		Jitter: retry.NoJitter, AttemptTimeout: 5 * time.Second}
	dialing, connect := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var h *harness
	slowDial := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		once.Do(func() {
			close(dialing)
			<-connect
		})
		return h.lis.DialContext(ctx)
	})
	h = start(t, newServer(), slowDial,
		grpc.WithStreamInterceptor(grpcretry.StreamClientInterceptor(p)))
	type result struct {
		stream grpc.ServerStreamingClient[healthpb.HealthCheckResponse]
		err    error
	}
	done := make(chan result, 1)

	go func() {
		stream, err := h.health.Watch(t.Context(), &healthpb.HealthCheckRequest{},
			grpc.WaitForReady(true))
		done <- result{stream, err}
	}()
	<-dialing                                          // the first opening waits for it
	require.NoError(t, clk.BlockUntil(t.Context(), 1)) // with its timer
	clk.Advance(5 * time.Second)                       // until it runs out
	require.NoError(t, clk.BlockUntil(t.Context(), 1)) // then the wait
	close(connect)                                     // as the connection comes up
	clk.AdvanceToNext()
	r := <-done

	require.NoError(t, r.err)
	clk.Advance(time.Hour) // the timeout bounded the opening only
	resp, err := r.stream.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	_, err = r.stream.Recv()
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, secs(5, 1, 5), clk.Waits())
	assert.Equal(t, 1, h.srv.Calls())
}

// Once open, a bidirectional stream is the caller's: its failure is not
// retried.
func TestStreamBidiNotRetried(t *testing.T) {
	clk := retrytest.NewClock()
	h := start(t, newServer(step{code: codes.Unavailable}), grpc.WithStreamInterceptor(
		grpcretry.StreamClientInterceptor(fakePolicy(clk), grpcretry.WithNonIdempotent())))

	stream, err := h.test.FullDuplexCall(t.Context())
	require.NoError(t, err)
	_, err = stream.Recv()

	assert.Equal(t, codes.Unavailable, status.Code(err))
	var re *retry.Error
	assert.False(t, errors.As(err, &re), "not the retry loop's: %v", err)
	assert.Equal(t, 1, h.srv.Calls())
}

// A bidirectional stream with an opening timeout works as one without.
func TestStreamBidiEcho(t *testing.T) {
	h := start(t, newServer(), grpc.WithStreamInterceptor(
		grpcretry.StreamClientInterceptor(&retry.Policy{AttemptTimeout: time.Minute})))

	stream, err := h.test.FullDuplexCall(t.Context())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&testpb.StreamingOutputCallRequest{}))
	_, err = stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()

	assert.Equal(t, io.EOF, err)
}

// The replayed failure that starts the second loop takes no slot of the
// policy's limiter, and an adaptive limiter still hears how attempts end.
func TestStreamFirstReceiveLimiter(t *testing.T) {
	clk := retrytest.NewClock()
	lim := &countingLimiter{}
	p := fakePolicy(clk)
	p.Limiter = lim
	h := start(t, newServer(step{code: codes.Unavailable}), grpc.WithStreamInterceptor(
		grpcretry.StreamClientInterceptor(p, grpcretry.WithIdempotent(watchMethod))))

	err := drive(clk, func() error {
		stream, err := h.health.Watch(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	})

	require.NoError(t, err)
	assert.Equal(t, 2, lim.reserves, "the first opening and the second")
	assert.Equal(t, []retry.Outcome{retry.Succeeded, retry.Failed, retry.Succeeded},
		lim.outcomes)
}

// countingLimiter admits every call at once and records what it is told.
type countingLimiter struct {
	mu       sync.Mutex
	reserves int
	outcomes []retry.Outcome
}

func (l *countingLimiter) Reserve(time.Time) (time.Duration, func(time.Time), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserves++
	return 0, nil, nil
}

func (l *countingLimiter) Observe(_ time.Time, o retry.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outcomes = append(l.outcomes, o)
}
