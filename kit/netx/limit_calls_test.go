package netx_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/netx"
)

// slowService's UnaryCall lasts until its caller gives up, with not a
// byte either way meanwhile, as a slow database query would.
type slowService struct {
	testpb.UnimplementedTestServiceServer
	started chan struct{}
}

func (s *slowService) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.started <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestGRPCConnectionWithASlowCallIsKept: at the limit, a gRPC connection
// whose only call is slow does no I/O, and used to be evicted as parked
// once quiet for QuietAfter, failing the call. grpcx.NewServer counts the
// calls in flight on the listener (ServerConfig.ConnLimit), so the
// newcomer takes the place of the idle connection instead.
func TestGRPCConnectionWithASlowCallIsKept(t *testing.T) {
	kittest.CheckGoroutines(t)
	l := listen(t, 2, netx.QuietAfter(100*time.Millisecond))
	srv := grpcx.NewServer(grpcx.ServerConfig{ConnLimit: l})
	slow := &slowService{started: make(chan struct{}, 1)}
	testpb.RegisterTestServiceServer(srv, slow)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := l.Addr().String()

	// The slow call's connection comes first, so it is the one quiet
	// longest.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
		done <- err
	}()
	select {
	case <-slow.started:
	case err := <-done:
		t.Fatalf("the slow call ended before it started: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the slow call never reached its handler")
	}
	// An idle connection: one call, then nothing.
	if err := check(t, addr); err != nil {
		t.Fatal(err)
	}

	kittest.WaitFor(t, 5*time.Second, "a newcomer served at the limit", func() bool {
		return check(t, addr) == nil
	})
	select {
	case err := <-done:
		t.Fatalf("the slow call's connection was evicted: %v", err)
	default:
	}
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("the slow call ended with %v, want the caller's own cancellation", err)
	}
	if n := l.Open(); n > 2 {
		t.Fatalf("Open() = %d, above the limit of 2", n)
	}
}
