package grpcx_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
)

// TestHealthFollowsChecks: gRPC health gives the same verdict as
// /health/ready. A readiness check failing (the database lost) turns
// every name NOT_SERVING while the process stays declared ready, and
// passing again turns it back to SERVING, with no restart.
func TestHealthFollowsChecks(t *testing.T) {
	f := start(t)
	var down atomic.Bool
	f.ready.AddCheck("postgres", func(context.Context) error {
		if down.Load() {
			return errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, errors.New("connection refused"), "database unreachable")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	monitored := make(chan error, 1)
	go func() { monitored <- f.ready.Monitor(ctx, 5*time.Millisecond) }()
	t.Cleanup(func() {
		cancel()
		if err := <-monitored; err != nil {
			t.Errorf("Monitor: %v", err)
		}
	})

	hc := healthgrpc.NewHealthClient(f.conn)
	// Bounded, so a status that never comes fails the test instead of
	// hanging it.
	watchCtx, stopWatch := context.WithTimeout(ctx, 10*time.Second)
	defer stopWatch()
	watch, err := hc.Watch(watchCtx, &healthgrpc.HealthCheckRequest{Service: "widgets"})
	if err != nil {
		t.Fatal(err)
	}
	// next waits for the next status the health service pushes, so the
	// test follows the changes without polling.
	next := func(want healthgrpc.HealthCheckResponse_ServingStatus, what string) {
		t.Helper()
		m, err := watch.Recv()
		if err != nil {
			t.Fatalf("%s: Watch.Recv: %v", what, err)
		}
		if m.GetStatus() != want {
			t.Fatalf("%s: status %v, want %v", what, m.GetStatus(), want)
		}
	}
	check := func(want healthgrpc.HealthCheckResponse_ServingStatus, what string) {
		t.Helper()
		for _, s := range []string{"", "widgets", "grpc.testing.TestService"} {
			resp, err := hc.Check(ctx, &healthgrpc.HealthCheckRequest{Service: s})
			if err != nil || resp.GetStatus() != want {
				t.Fatalf("%s: Check(%q) = %v, %v; want %v", what, s, resp.GetStatus(), err, want)
			}
		}
	}

	next(healthgrpc.HealthCheckResponse_NOT_SERVING, "before ready")
	f.ready.SetReady(true)
	next(healthgrpc.HealthCheckResponse_SERVING, "ready")
	check(healthgrpc.HealthCheckResponse_SERVING, "ready")

	down.Store(true)
	next(healthgrpc.HealthCheckResponse_NOT_SERVING, "database down")
	check(healthgrpc.HealthCheckResponse_NOT_SERVING, "database down")
	if !f.ready.Declared() {
		t.Fatal("a failing check changed the declared state")
	}

	down.Store(false)
	next(healthgrpc.HealthCheckResponse_SERVING, "database back")
	check(healthgrpc.HealthCheckResponse_SERVING, "database back")

	// Shutdown wins at once, whatever the checks say.
	f.ready.SetReady(false)
	check(healthgrpc.HealthCheckResponse_NOT_SERVING, "after SetReady(false)")
}
