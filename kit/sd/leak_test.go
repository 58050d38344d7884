package sd_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

// leakMarkers name the goroutines this package starts, directly or
// through go-kit.
var leakMarkers = []string{
	"kitshop/kit/sd.(*watchClient).WatchPrefix",
	"kitshop/kit/sd.(*Registrar).Run",
	"go-kit/kit/sd/etcdv3.(*Instancer).loop",
	"kitshop/kit/sd.(*versionedEndpointer).receive",
	"kitshop/kit/sd.watchRollout.func1",
}

func leaked() []string {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	var found []string
	for _, m := range leakMarkers {
		if strings.Contains(stacks, m) {
			found = append(found, m)
		}
	}
	return found
}

// Not parallel on purpose: parallel tests are paused while it runs, so any
// goroutine it finds is its own.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	srv := etcdtest.Start(t)
	register(t, srv, "a", startBackendFake(t).addr)
	c := newClient(t, srv)

	ctx, cancel := context.WithCancel(context.Background())
	r := sd.NewRegistrar(c, testInstance("leak"), ttl, nil)
	wait := runRegistrar(t, ctx, r)
	backend := recordingBackend(t, c, &dialer{})
	checkHealth := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)
	waitRegistered(t, r, 5*time.Second)
	kittest.WaitFor(t, 5*time.Second, "a call through the backend", func() bool {
		return do(checkHealth, &healthpb.HealthCheckRequest{}) == nil
	})
	if len(leaked()) != len(leakMarkers) {
		t.Fatalf("expected every marker goroutine to be running, found only %v", leaked())
	}

	if err := r.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := backend.Close(); err != nil {
		t.Fatal(err)
	}
	kittest.WaitFor(t, 3*time.Second, "background goroutines to end", func() bool { return len(leaked()) == 0 })
}
