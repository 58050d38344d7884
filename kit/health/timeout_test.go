package health_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
)

// stuckCheck ignores its context, as a driver blocked on a frozen server
// does, until the test releases it.
type stuckCheck struct {
	release chan struct{}
	runs    atomic.Int64
	running atomic.Int64
}

func newStuckCheck(t *testing.T) *stuckCheck {
	c := &stuckCheck{release: make(chan struct{})}
	t.Cleanup(c.unblock)
	return c
}

func (c *stuckCheck) check(context.Context) error {
	c.runs.Add(1)
	c.running.Add(1)
	defer c.running.Add(-1)
	<-c.release
	return nil
}

func (c *stuckCheck) unblock() {
	select {
	case <-c.release:
	default:
		close(c.release)
	}
}

// probe runs the ready handler and returns its status, its checks and how
// long it took, failing the test if it does not answer within 2 s.
func probe(t *testing.T, r *health.Readiness) (int, map[string]any, time.Duration) {
	t.Helper()
	start := time.Now()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.ReadyHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health/ready", nil))
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("/health/ready did not answer within 2s: a stuck check holds it")
	}
	var body struct {
		Checks map[string]any `json:"checks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return rec.Code, body.Checks, time.Since(start)
}

// A check that ignores its context cannot hold a probe: the probe answers
// 503 within CheckTimeout (under 2 s), naming the check as timed out, and
// the other checks still report. While it stays stuck it is not started
// again; once it returns, it runs again as usual.
func TestReadinessAnswersInTimeDespiteAStuckCheck(t *testing.T) {
	r := health.New()
	stuck := newStuckCheck(t)
	r.AddCheck("postgres", stuck.check)
	r.AddCheck("etcd", func(context.Context) error { return nil })
	r.SetReady(true)

	code, checks, took := probe(t, r)
	if code != http.StatusServiceUnavailable || checks["postgres"] != "timed out" || checks["etcd"] != "ok" {
		t.Fatalf("probe: %d %v", code, checks)
	}
	if took < health.CheckTimeout || took > health.CheckTimeout+300*time.Millisecond {
		t.Fatalf("probe took %v, want about CheckTimeout (%v)", took, health.CheckTimeout)
	}

	code, checks, took = probe(t, r)
	if code != http.StatusServiceUnavailable || checks["postgres"] != "still running since an earlier probe" {
		t.Fatalf("second probe: %d %v", code, checks)
	}
	if took > 200*time.Millisecond {
		t.Fatalf("second probe waited %v for a check known to be stuck", took)
	}
	if n := stuck.runs.Load(); n != 1 {
		t.Fatalf("stuck check started %d times, want once", n)
	}

	stuck.unblock()
	kittest.WaitFor(t, waitTimeout, "stuck check returns", func() bool { return stuck.running.Load() == 0 })
	code, checks, _ = probe(t, r)
	if code != http.StatusOK || checks["postgres"] != "ok" || stuck.runs.Load() != 2 {
		t.Fatalf("after release: %d %v, %d runs", code, checks, stuck.runs.Load())
	}
}

// The monitor, too, turns a stuck check into "not serving" within a
// round, instead of keeping the last verdict forever.
func TestMonitorFailsAStuckCheck(t *testing.T) {
	r := health.New()
	var block atomic.Bool
	stuck := newStuckCheck(t)
	r.AddCheck("postgres", func(ctx context.Context) error {
		if block.Load() {
			return stuck.check(ctx)
		}
		return nil
	})
	serving := newRecorder()
	r.SubscribeServing(serving.listen)
	r.SetReady(true)
	startMonitor(t, r, 50*time.Millisecond)
	serving.next(t, false, "initial")
	serving.next(t, true, "ready")
	block.Store(true)
	start := time.Now()
	serving.next(t, false, "stuck check")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("serving turned false %v after the check got stuck", took)
	}
	stuck.unblock()
	block.Store(false)
	serving.next(t, true, "check returned")
}

// A panicking check fails readiness instead of crashing the process.
func TestPanickingCheckFails(t *testing.T) {
	r := health.New()
	r.AddCheck("broken", func(context.Context) error { panic("boom") })
	r.SetReady(true)
	code, checks, _ := probe(t, r)
	if code != http.StatusServiceUnavailable || checks["broken"] != "check failed" {
		t.Fatalf("probe: %d %v", code, checks)
	}
}
