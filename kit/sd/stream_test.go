package sd_test

import (
	"context"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

// A server stream opened through the Backend delivers the server's
// messages and ends with the caller's context, leaving nothing running.
func TestServerStreamDeliversAndEndsWithTheCaller(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := startBackendFake(t)
	backend := newBackend(t, sd.BackendConfig{Addr: f.addr, Edge: true})
	watch := sd.ServerStream(backend, "Watch", healthpb.HealthClient.Watch)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	got, err := recvWithin(t, s.Recv)
	if err != nil || got.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first message: %v, %v; want SERVING", got, err)
	}
	cancel()
	if _, err := recvWithin(t, s.Recv); err == nil {
		t.Fatal("the stream outlived its caller's context")
	}
}

// Opening a stream where no instance answers fails as Unavailable instead
// of waiting for one.
func TestServerStreamOpenFailsFastWithoutAnInstance(t *testing.T) {
	backend := newBackend(t, sd.BackendConfig{Addr: kittest.FreeAddr(t), Edge: true})
	watch := sd.ServerStream(backend, "Watch", healthpb.HealthClient.Watch)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := watch(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		// gRPC may report the refused connection on the first Recv.
		_, err = s.Recv()
	}
	if k := errs.KindOf(errs.FromGRPC(err)); k != errs.Unavailable {
		t.Fatalf("err = %v (kind %v), want Unavailable", err, k)
	}
	if ctx.Err() != nil {
		t.Fatal("the open waited for the caller's deadline")
	}
}

// recvWithin is one Recv, bounded so a hung stream fails the test.
func recvWithin[M any](t *testing.T, recv func() (M, error)) (M, error) {
	t.Helper()
	type result struct {
		m   M
		err error
	}
	done := make(chan result, 1)
	go func() { m, err := recv(); done <- result{m, err} }()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Recv did not return within 10s")
		var zero M
		return zero, nil
	}
}
