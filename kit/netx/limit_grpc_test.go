package netx_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/netx"
)

// serveGRPC serves the health service on a limited listener. gRPC says
// nothing to the listener about its connections, as in kit/boot.
func serveGRPC(t *testing.T, max int, opts ...netx.LimitOption) *netx.LimitListener {
	t.Helper()
	l := listen(t, max, opts...)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l
}

// check makes one call on a new client connection, which stays open
// (parked) until the test ends, and reports its error.
func check(t *testing.T, addr string) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// TestGRPCParkedConnectionsMakeRoom: connections that made one call and
// went quiet fill the limit; once they have been quiet for QuietAfter, a
// new client is served, where it used to be refused until gRPC's
// MaxConnectionIdle (15 minutes) freed a place.
func TestGRPCParkedConnectionsMakeRoom(t *testing.T) {
	kittest.CheckGoroutines(t)
	l := serveGRPC(t, 3, netx.QuietAfter(100*time.Millisecond))
	addr := l.Addr().String()
	for range 3 {
		if err := check(t, addr); err != nil {
			t.Fatal(err)
		}
	}
	kittest.WaitFor(t, 5*time.Second, "a new client served at the limit", func() bool {
		return check(t, addr) == nil
	})
	if n := l.Open(); n > 3 {
		t.Fatalf("Open() = %d, above the limit of 3", n)
	}
}

// TestGRPCBusyConnectionsAreKept: connections that read or wrote within
// QuietAfter are busy; a newcomer is refused at once rather than one of
// them closed.
func TestGRPCBusyConnectionsAreKept(t *testing.T) {
	kittest.CheckGoroutines(t)
	l := serveGRPC(t, 3, netx.QuietAfter(time.Hour))
	addr := l.Addr().String()
	for range 3 {
		if err := check(t, addr); err != nil {
			t.Fatal(err)
		}
	}
	begin := time.Now()
	err := check(t, addr)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a client beyond the limit: %v, want UNAVAILABLE", err)
	}
	if took := time.Since(begin); took > time.Second {
		t.Fatalf("the refused client waited %v; it must be refused at once", took)
	}
	if n := l.Shed(); n == 0 {
		t.Fatal("Shed() = 0; the newcomer was not refused")
	}
}
