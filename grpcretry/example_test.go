package grpcretry_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/grpcretry"
)

// startingUp is a health service that is unavailable at its first call.
type startingUp struct {
	healthpb.UnimplementedHealthServer
	calls atomic.Int32
}

func (s *startingUp) Check(context.Context,
	*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if s.calls.Add(1) == 1 {
		return nil, status.Error(codes.Unavailable, "starting up")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func ExampleUnaryClientInterceptor() {
	// A server on an in-memory listener; addr and the dialer stand for a
	// real address.
	lis := bufconn.Listen(1 << 16)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, &startingUp{})
	go srv.Serve(lis)
	defer srv.Stop()
	addr := "passthrough:///bufnet"
	dialer := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	})

	policy := retry.Default()
	policy.InitialDelay = retry.NoDelay // only so that the example does not wait
	policy.Hooks.OnSuccess = func(_ context.Context, attempts int, _ time.Duration) {
		fmt.Println("attempts:", attempts)
	}
	conn, err := grpc.NewClient(addr, dialer,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(policy,
			grpcretry.WithIdempotent("/grpc.health.v1.Health/Check"))))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()

	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(),
		&healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output:
	// attempts: 2
	// SERVING <nil>
}
