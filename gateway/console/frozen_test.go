package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kitshop/kitshop/kit/kittest"
)

// frozenGatherer's Gather returns only when released.
type frozenGatherer struct{ release <-chan struct{} }

func (g frozenGatherer) Gather() ([]*dto.MetricFamily, error) {
	<-g.release
	return nil, nil
}

// Sources that never answer (an instance's readiness, orders' listing,
// the metrics) cost the page their bounds, not the page itself: it is
// served in time, each frozen section saying it timed out, and nothing
// is left running once the sources give up.
func TestFrozenSourcesDoNotHangThePage(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	p.instance("users", "v1", http.StatusOK)
	stuck := newFrozen(t)
	p.register("products", "v1", p.serve("products", stuck).Listener.Addr().String())
	ordersStuck := newFrozen(t)
	p.register("orders", "v1", p.serve("orders", readyHandler(http.StatusOK, ordersStuck)).Listener.Addr().String())
	defer stuck.unfreeze()
	defer ordersStuck.unfreeze()

	cfg := p.config(frozenGatherer{release: stuck.release})
	const bound = 500 * time.Millisecond
	cfg.SourceTimeout, cfg.ProbeTimeout = bound, bound
	srv := consoleServer(t, cfg)

	start := time.Now()
	a := get(t, srv, "/console", "admin")
	took := time.Since(start)
	if a.status != http.StatusOK {
		t.Fatalf("status %d", a.status)
	}
	// The page's own bound is the instances' (listing plus one probe);
	// the rest is slack for a loaded machine, far below "never".
	if took > 2*bound+10*time.Second {
		t.Fatalf("page took %v with sources bounded at %v", took, bound)
	}
	wantContains(t, a.body,
		`<span class="health ready">ready</span>`,      // users answered
		`<span class="health unreachable">unreachable`, // products did not
		"metrics: timed out",
		`<h3 id="sagas-active-h">Active <span class="summary">0</span></h3>`,
	)
	if n := strings.Count(a.body, "timed out"); n < 5 { // the probe, the metrics, three saga states
		t.Fatalf("%d timeouts shown, want at least 5:\n%s", n, a.body)
	}

	// The Gather still running is not started again by the next page.
	a = get(t, srv, "/console", "admin")
	wantContains(t, a.body, errGatherStuck)
}

// A second orders instance is tried when the first does not answer in
// its share of the time.
func TestSagasFromTheNextOrdersInstance(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	stuck := newFrozen(t)
	defer stuck.unfreeze()
	orders := &fakeOrders{}
	// sd.List orders instances by id: the frozen one comes first.
	p.registerAs("a-frozen", "orders", "v1", p.serve("orders", stuck).Listener.Addr().String())
	p.registerAs("b-answering", "orders", "v1", p.serve("orders", orders).Listener.Addr().String())
	cfg := p.config(prometheus.NewRegistry())
	cfg.SourceTimeout, cfg.ProbeTimeout = 2*time.Second, 200*time.Millisecond
	a := get(t, consoleServer(t, cfg), "/console", "admin")
	wantContains(t, a.body, `title="`+activeOrder+`"`)
	if orders.asked.Load() != 3 {
		t.Fatalf("the answering instance was asked %d times, want 3", orders.asked.Load())
	}
}

// A burst of page views beyond MaxPages is refused at once with 503
// rather than queued behind slow sources.
func TestBusyConsoleRefuses(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	stuck := newFrozen(t)
	p.register("orders", "v1", p.serve("orders", stuck).Listener.Addr().String())
	defer stuck.unfreeze()
	cfg := p.config(nil)
	cfg.MaxPages = 1
	cfg.SourceTimeout = 30 * time.Second
	srv := consoleServer(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/console", nil)
		req.Header.Set(headerRole, "admin")
		req.Header.Set(headerToken, adminToken)
		if resp, err := srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-stuck.entered: // the first page is waiting for orders
	case <-time.After(20 * time.Second):
		t.Fatal("the first page never asked orders")
	}
	a := get(t, srv, "/console", "admin")
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("second page while the first renders: %d (Retry-After %q), want 503 with Retry-After", a.status, a.header.Get("Retry-After"))
	}
	stuck.unfreeze()
	<-done
	srv.Client().CloseIdleConnections()
}

// With the registry down, the sections that read it say so; the rest of
// the page is served.
func TestRegistryDown(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	p.instance("users", "v1", http.StatusOK)
	cfg := p.config(gatewayMetrics(t))
	cfg.SourceTimeout = 500 * time.Millisecond
	srv := consoleServer(t, cfg)
	p.srv.Stop()
	a := get(t, srv, "/console", "admin")
	if a.status != http.StatusOK {
		t.Fatalf("status %d", a.status)
	}
	if n := strings.Count(a.body, "registry: "); n != 5 { // instances, rollouts, three saga states
		t.Fatalf("registry errors shown %d times, want 5:\n%s", n, a.body)
	}
	wantContains(t, a.body, `<span class="breaker open">open</span>`)
}
