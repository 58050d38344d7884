package sd_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

// An instance that leaves discovery while a call to it is in flight (the
// first step of its graceful shutdown) must be allowed to finish that
// call: its connection closes only afterwards.
func TestRetiredInstanceFinishesInFlightCalls(t *testing.T) {
	etcd := etcdtest.Start(t)
	// The first call is held until release; later ones (the probes
	// below) pass.
	entered, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if held.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return h(ctx, req)
	}))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	client := etcd.Client(t)
	putInstance(t, client, sd.Instance{ID: "slow", Name: "users", GRPCAddr: lis.Addr().String()})
	d := &dialer{}
	backend := recordingBackend(t, newClient(t, etcd), d)
	// One attempt, with time to spare: the call must succeed as it is,
	// not through a retry on a fresh connection.
	checkHealth := sd.Unary(backend, "Check", sd.Policy{Attempts: 1, AttemptTimeout: 10 * time.Second}, healthpb.HealthClient.Check)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := checkHealth(ctx, &healthpb.HealthCheckRequest{})
		done <- err
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the call never reached the instance")
	}

	deleteKey(t, client, sd.Key("users", "slow"))
	// The instance has left when a new call finds none.
	kittest.WaitFor(t, 5*time.Second, "the instance to leave the backend", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := checkHealth(ctx, &healthpb.HealthCheckRequest{})
		return errs.ReasonOf(err) == sd.ReasonNoInstances
	})
	conn := d.dialed(lis.Addr().String())[0]
	if conn.GetState() == connectivity.Shutdown {
		t.Fatal("connection closed under an in-flight call")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("in-flight call failed after its instance left discovery: %v", err)
	}
	kittest.WaitFor(t, 5*time.Second, "the retired connection to close", func() bool {
		return conn.GetState() == connectivity.Shutdown
	})
}
