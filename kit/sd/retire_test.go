package sd_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

// An instance that leaves discovery while a call to it is in flight (the
// first step of its graceful shutdown) must be allowed to finish that
// call: its connection closes only afterwards.
func TestRetiredInstanceFinishesInFlightCalls(t *testing.T) {
	etcd := etcdtest.Start(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		entered <- struct{}{}
		<-release
		return h(ctx, req)
	}))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	client := etcd.Client(t)
	putInstance(t, client, sd.Instance{ID: "slow", Name: "users", GRPCAddr: lis.Addr().String()})
	inst, err := sd.NewInstancer(client, "users", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Stop)
	d := &dialer{}
	conns := sd.NewConns(d.dial)
	t.Cleanup(func() { conns.Close() })
	e := sd.Endpoint(inst, conns, checkMethod, sd.EndpointOptions{Timeout: 10 * time.Second})

	done := make(chan error, 1)
	go func() {
		_, err := e(context.Background(), "")
		done <- err
	}()
	<-entered

	deleteKey(t, client, sd.Key("users", "slow"))
	kittest.WaitFor(t, 5*time.Second, "the instance to leave the pool", func() bool { return conns.Len() == 0 })
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
