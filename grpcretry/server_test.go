package grpcretry_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/deb4e658/retry"
	"github.com/deb4e658/retry/grpcretry"
	"github.com/deb4e658/retry/retrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The methods the tests call.
const (
	checkMethod = "/grpc.health.v1.Health/Check"
	watchMethod = "/grpc.health.v1.Health/Watch"
)

// step is what the scripted server does for one call. The zero step
// answers SERVING.
type step struct {
	code       codes.Code    // fail with this status, unless OK
	retryInfo  bool          // with a RetryInfo detail of retryDelay
	retryDelay time.Duration //
	pushback   string        // the grpc-retry-pushback-ms trailer, when set
	header     bool          // send response headers first
	hang       bool          // wait until the test ends
	messages   int           // Watch: send this many messages first
}

// err is the error the step's handler returns, after sending headers and
// setting the trailer, or nil for an answer. A hanging step tells hung and
// waits for release.
func (st step) err(ctx context.Context, hung chan<- struct{}, release <-chan struct{}) error {
	if st.header {
		if err := grpc.SendHeader(ctx, metadata.Pairs("x-step", "header")); err != nil {
			return err
		}
	}
	if st.pushback != "" {
		md := metadata.Pairs(grpcretry.PushbackKey, st.pushback)
		if err := grpc.SetTrailer(ctx, md); err != nil {
			return err
		}
	}
	if st.hang {
		// The client's context ends the call; the server's own deadline,
		// which ends at the same instant, must not race it with an answer.
		hung <- struct{}{}
		<-release
		return status.Error(codes.Aborted, "released")
	}
	if st.code == codes.OK {
		return nil
	}

	s := status.New(st.code, "scripted "+st.code.String())
	if st.retryInfo {
		var err error
		info := &errdetails.RetryInfo{RetryDelay: durationpb.New(st.retryDelay)}
		if s, err = s.WithDetails(info); err != nil {
			return err
		}
	}
	return s.Err()
}

// server is a health service that follows a script, one step a call, and
// answers SERVING once the script is done.
type server struct {
	healthpb.UnimplementedHealthServer
	testpb.UnimplementedTestServiceServer

	hung    chan struct{} // a value each time a call starts hanging
	release chan struct{} // closed when the test ends

	mu    sync.Mutex
	steps []step
	calls int
}

func newServer(steps ...step) *server {
	return &server{steps: steps, hung: make(chan struct{}, 16), release: make(chan struct{})}
}

func (s *server) next() step {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.calls++
	if len(s.steps) == 0 {
		return step{}
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	return st
}

// Calls returns how many calls the server has received.
func (s *server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

var serving = &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}

func (s *server) Check(ctx context.Context,
	_ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if err := s.next().err(ctx, s.hung, s.release); err != nil {
		return nil, err
	}
	return serving, nil
}

func (s *server) Watch(_ *healthpb.HealthCheckRequest,
	stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	st := s.next()
	for range st.messages {
		if err := stream.Send(serving); err != nil {
			return err
		}
	}
	if err := st.err(stream.Context(), s.hung, s.release); err != nil {
		return err
	}
	return stream.Send(serving)
}

// FullDuplexCall fails as the step says, or echoes every message.
func (s *server) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if err := s.next().err(stream.Context(), s.hung, s.release); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return nil
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
}

// lookupMethod is the one method of a service, registered by the tests
// only, whose .proto says it has no side effects.
const lookupMethod = "/grpcretry.test.Lookup/Get"

// lookupDesc serves lookupMethod with the server's Check.
var lookupDesc = grpc.ServiceDesc{
	ServiceName: "grpcretry.test.Lookup",
	HandlerType: (*checker)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Get",
		Handler: func(srv any, ctx context.Context, dec func(any) error,
			_ grpc.UnaryServerInterceptor) (any, error) {
			in := new(healthpb.HealthCheckRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(checker).Check(ctx, in)
		}}},
}

type checker interface {
	Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error)
}

// The descriptor of lookupMethod, as generated code would register it.
func init() {
	fd := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("grpcretry/test/lookup.proto"),
		Package:    proto.String("grpcretry.test"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{healthpb.File_grpc_health_v1_health_proto.Path()},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("Lookup"),
			Method: []*descriptorpb.MethodDescriptorProto{{Name: proto.String("Get"),
				InputType:  proto.String(".grpc.health.v1.HealthCheckRequest"),
				OutputType: proto.String(".grpc.health.v1.HealthCheckResponse"),
				Options: &descriptorpb.MethodOptions{
					IdempotencyLevel: descriptorpb.MethodOptions_NO_SIDE_EFFECTS.Enum()},
			}}}},
	}
	f, err := protodesc.NewFile(fd, protoregistry.GlobalFiles)
	if err == nil {
		err = protoregistry.GlobalFiles.RegisterFile(f)
	}
	if err != nil {
		panic(err)
	}
}

// harness is a scripted server on an in-memory listener and a client
// connection to it.
type harness struct {
	srv    *server
	lis    *bufconn.Listener
	conn   *grpc.ClientConn
	health healthpb.HealthClient
	test   testpb.TestServiceClient
}

// start serves srv and connects to it with opts after its own. The test's
// cleanup closes both and waits for the server to stop.
func start(t *testing.T, srv *server, opts ...grpc.DialOption) *harness {
	t.Helper()
	lis := bufconn.Listen(1 << 16)
	return serve(t, srv, lis, "passthrough:///bufnet", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		})}, opts...)...)
}

func serve(t *testing.T, srv *server, lis net.Listener, target string,
	opts ...grpc.DialOption) *harness {
	t.Helper()
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, srv)
	testpb.RegisterTestServiceServer(gs, srv)
	gs.RegisterService(&lookupDesc, srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()

	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		conn.Close()
		close(srv.release)
		gs.Stop()
		<-served
	})

	h := &harness{srv: srv, conn: conn, health: healthpb.NewHealthClient(conn),
		test: testpb.NewTestServiceClient(conn)}
	h.lis, _ = lis.(*bufconn.Listener)
	return h
}

// fakePolicy returns a policy on clk with waits of 1s, 2s, 4s, … and no
// jitter or attempt timeout, so that drive can fire every timer it makes.
func fakePolicy(clk *retrytest.Clock) *retry.Policy {
	return &retry.Policy{Clock: clk, MaxAttempts: 4, InitialDelay: time.Second,
		Jitter: retry.NoJitter, AttemptTimeout: retry.Unlimited}
}

// drive runs call in a goroutine and moves clk to each timer it makes
// until call returns, and returns call's error.
func drive(clk *retrytest.Clock, call func() error) error {
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		done <- call()
		cancel()
	}()
	for clk.BlockUntil(ctx, 1) == nil {
		clk.AdvanceToNext()
	}
	return <-done
}
