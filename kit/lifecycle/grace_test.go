package lifecycle

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kitshop/kitshop/kit/kittest"
)

// timedRegistrar records when Deregister ran.
type timedRegistrar struct {
	*fakeRegistrar
	at atomic.Pointer[time.Time]
}

func (r *timedRegistrar) Deregister(ctx context.Context) error {
	now := time.Now()
	r.at.Store(&now)
	return r.fakeRegistrar.Deregister(ctx)
}

// Between deregistering and closing its listeners the process keeps
// serving for DeregisterGrace: a caller with a stale view of the registry
// opens a new connection and is served, over HTTP and gRPC alike.
func TestDeregisterGraceKeepsServingBeforeTheDrain(t *testing.T) {
	kittest.CheckGoroutines(t)
	const grace = 800 * time.Millisecond
	ta := newTestApp(t)
	reg := &timedRegistrar{fakeRegistrar: ta.reg}
	ta.app.Registrar = reg
	ta.app.DeregisterGrace = grace
	var drainAt atomic.Pointer[time.Time]
	ta.app.HTTP.RegisterOnShutdown(func() {
		now := time.Now()
		drainAt.Store(&now)
	})
	cancel, done := ta.start(t)

	cancel()
	kittest.WaitFor(t, 5*time.Second, "deregistration", func() bool { return reg.at.Load() != nil })

	// A caller that has not seen the deregistration yet: new connections.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	resp, err := fresh.Get(ta.httpURL + "/fast")
	if err != nil {
		t.Fatalf("new HTTP connection refused during the grace: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("during the grace: %s", resp.Status)
	}
	conn := dialGRPC(t, ta.grpcAddr)
	ctx, cancelCall := context.WithTimeout(context.Background(), time.Second)
	defer cancelCall()
	close(ta.release) // the slow method answers at once now
	if err := conn.Invoke(ctx, slowMethod, new(emptypb.Empty), new(emptypb.Empty)); err != nil {
		t.Fatalf("new gRPC call refused during the grace: %v", err)
	}
	<-ta.started
	if drainAt.Load() != nil {
		t.Fatal("the drain began before the grace ended")
	}

	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	waited := drainAt.Load().Sub(*reg.at.Load())
	if waited < grace || waited > grace+500*time.Millisecond {
		t.Fatalf("drain began %v after deregistration, want %v", waited, grace)
	}
	assertOrder(t, ta.rec.list(), []string{"deregister", "ready=false", "drain-after-unready", "http-drain", "close-store"})
	if !strings.Contains(ta.logs.String(), "still serving before drain") {
		t.Fatalf("grace not logged:\n%s", ta.logs)
	}
}

// Without a registrar there is nobody with a stale view: no grace.
func TestNoGraceWithoutRegistrar(t *testing.T) {
	ta := newTestApp(t)
	ta.app.Registrar = nil
	ta.app.DeregisterGrace = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.app.Run(ctx) }()
	kittest.WaitFor(t, 5*time.Second, "job start", func() bool { return ta.rec.has("job-started") })
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("shutdown took %v without a registrar", took)
	}
}
