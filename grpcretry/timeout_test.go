package grpcretry_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/grpcretry"
	"github.com/deb4e658/retry/retrytest"
)

// Under testing/synctest the policy runs on the real clock, whose time is
// the bubble's: an attempt's timeout is a real context deadline that gRPC
// sends to the server, and the whole schedule runs in microseconds.
func TestUnaryTimeoutSynctest(t *testing.T) {
	hang := step{hang: true}
	tests := []struct {
		name         string
		giveDeadline time.Duration // the caller's, from the start; 0 for none
		giveSteps    []step
		giveOpts     []grpcretry.Option
		wantReason   error // nil for success
		wantIs       error
		wantCode     codes.Code
		wantCalls    int
		wantElapsed  time.Duration
	}{
		{name: "attempt_timeout_retried", giveSteps: []step{hang},
			giveOpts:  []grpcretry.Option{grpcretry.WithIdempotent(checkMethod)},
			wantCalls: 2, wantElapsed: 6 * time.Second},
		{name: "attempt_timeout_not_idempotent", giveSteps: []step{hang},
			wantReason: retry.ErrNotRetryable, wantIs: grpcretry.ErrNotIdempotent,
			wantCode: codes.DeadlineExceeded, wantCalls: 1, wantElapsed: 5 * time.Second},
		{name: "caller_deadline_final", giveDeadline: 3 * time.Second,
			giveSteps: []step{hang}, giveOpts: []grpcretry.Option{grpcretry.WithNonIdempotent()},
			wantReason: retry.ErrDeadline, wantIs: context.DeadlineExceeded,
			wantCode: codes.DeadlineExceeded, wantCalls: 1, wantElapsed: 3 * time.Second},
		{name: "caller_deadline_after_retry", giveDeadline: 8 * time.Second,
			giveSteps:  []step{hang, hang},
			giveOpts:   []grpcretry.Option{grpcretry.WithNonIdempotent()},
			wantReason: retry.ErrDeadline, wantCode: codes.DeadlineExceeded,
			wantCalls: 2, wantElapsed: 8 * time.Second},
		{name: "caller_deadline_refuses_wait", giveDeadline: 5500 * time.Millisecond,
			giveSteps:  []step{hang},
			giveOpts:   []grpcretry.Option{grpcretry.WithNonIdempotent()},
			wantReason: retry.ErrDeadline, wantIs: retry.ErrAttemptTimeout,
			wantCode: codes.DeadlineExceeded, wantCalls: 1, wantElapsed: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &retry.Policy{MaxAttempts: 4, InitialDelay: time.Second,
					Jitter: retry.NoJitter, AttemptTimeout: 5 * time.Second}
				srv := newServer(tt.giveSteps...)
				h := start(t, srv,
					grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(p, tt.giveOpts...)))
				ctx := t.Context()
				if tt.giveDeadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.giveDeadline)
					defer cancel()
				}

				begin := time.Now()
				_, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{})

				assert.Equal(t, tt.wantElapsed, time.Since(begin), "elapsed")
				assert.Equal(t, tt.wantCalls, srv.Calls(), "calls")
				if tt.wantReason == nil {
					require.NoError(t, err)
					return
				}
				assert.ErrorIs(t, err, tt.wantReason)
				if tt.wantIs != nil {
					assert.ErrorIs(t, err, tt.wantIs)
				}
				assert.Equal(t, tt.wantCode, status.Code(err), "status code of %v", err)
			})
		})
	}
}

// On a fake clock an attempt's timeout is a cancellation that gRPC reports
// as Canceled; it is still retried, and reported as DeadlineExceeded.
func TestUnaryTimeoutFakeClock(t *testing.T) {
	clk := retrytest.NewClock()
	var reasons []string
	p := &retry.Policy{Clock: clk, MaxAttempts: 2, InitialDelay: time.Second,
		Jitter: retry.NoJitter, AttemptTimeout: 5 * time.Second,
		Hooks: retry.Hooks{OnRetry: func(_ context.Context, e retry.Event) {
			reasons = append(reasons, e.Reason)
		}}}
	srv := newServer(step{hang: true}, step{hang: true})
	h := start(t, srv, grpc.WithUnaryInterceptor(
		grpcretry.UnaryClientInterceptor(p, grpcretry.WithIdempotent(checkMethod))))
	done := make(chan error, 1)

	go func() {
		_, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{})
		done <- err
	}()
	for range 2 {
		<-srv.hung                   // the attempt has reached the server,
		clk.Advance(5 * time.Second) // and runs out of time
		if len(reasons) == 0 {
			require.NoError(t, clk.BlockUntil(t.Context(), 1)) // the wait,
			clk.AdvanceToNext()                                // which ends
		}
	}
	err := <-done

	assert.Equal(t, secs(5, 1, 5), clk.Waits())
	assert.Equal(t, []string{"attempt timeout"}, reasons)
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.ErrorIs(t, err, retry.ErrAttemptTimeout)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "status code of %v", err)
	assert.ErrorIs(t, err, status.Error(codes.Canceled, context.Canceled.Error()),
		"gRPC's own error is kept")
}

// An attempt that timed out while waiting for a connection never reached
// the server, so it is retried whatever the method.
func TestUnaryTimeoutWaitingForConnection(t *testing.T) {
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
		grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(p)))
	done := make(chan error, 1)

	go func() {
		_, err := h.health.Check(t.Context(), &healthpb.HealthCheckRequest{},
			grpc.WaitForReady(true))
		done <- err
	}()
	<-dialing                                          // the first attempt waits for it
	require.NoError(t, clk.BlockUntil(t.Context(), 1)) // with its timer
	clk.Advance(5 * time.Second)                       // until it runs out
	require.NoError(t, clk.BlockUntil(t.Context(), 1)) // then the wait
	close(connect)                                     // as the connection comes up
	clk.AdvanceToNext()
	err := <-done

	require.NoError(t, err)
	assert.Equal(t, secs(5, 1, 5), clk.Waits())
	assert.Equal(t, 1, h.srv.Calls())
}
