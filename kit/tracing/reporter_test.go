package tracing_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/openzipkin/zipkin-go/reporter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tracing"
)

// fastOptions make a reporter whose batches, timeouts and backoffs fit a
// unit test.
func fastOptions(reg prometheus.Registerer, logs *kittest.LogBuffer) tracing.ReporterOptions {
	return tracing.ReporterOptions{Service: "users", QueueSize: 64, BatchSize: 16,
		BatchInterval: 10 * time.Millisecond, PostTimeout: 200 * time.Millisecond, CloseTimeout: 300 * time.Millisecond,
		Metrics: reg, Logger: log.NewJSONLogger(logs)}
}

// collector is a fake Zipkin v2 collector keeping the spans it decoded.
type collector struct {
	mu      sync.Mutex
	spans   []model.SpanModel
	batches int
	b3      []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var spans []model.SpanModel
	if err := json.NewDecoder(r.Body).Decode(&spans); err != nil || r.URL.Path != "/api/v2/spans" {
		http.Error(w, "bad batch", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.spans = append(c.spans, spans...)
	c.batches++
	c.b3 = append(c.b3, r.Header.Get("b3"))
	c.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.spans)
}

// counter reads the reporter counter name{service="users"} from reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == "users" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func span(i int) model.SpanModel {
	return model.SpanModel{SpanContext: model.SpanContext{TraceID: model.TraceID{Low: 1}, ID: model.ID(i + 1)},
		Name: "op", Timestamp: time.Now(), Duration: time.Millisecond}
}

// sendAll sends n spans and fails the test if that took long: Send must
// never wait for the collector.
func sendAll(t *testing.T, rep reporter.Reporter, n int) {
	t.Helper()
	begin := time.Now()
	for i := range n {
		rep.Send(span(i))
	}
	if took := time.Since(begin); took > 100*time.Millisecond {
		t.Errorf("sending %d spans took %v: Send waited for the collector", n, took)
	}
}

func TestReporterBatchesAndCounts(t *testing.T) {
	kittest.CheckGoroutines(t)
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	rep, err := tracing.NewHTTPReporter(srv.URL+"/api/v2/spans", fastOptions(reg, &kittest.LogBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	sendAll(t, rep, n)
	kittest.WaitFor(t, 5*time.Second, "every span delivered", func() bool { return col.count() == n })
	if err := rep.Close(); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	batches, b3 := col.batches, col.b3
	col.mu.Unlock()
	if batches < 3 {
		t.Errorf("%d spans came in %d posts, want batches of at most 16", n, batches)
	}
	for _, h := range b3 {
		if h != "0" {
			t.Errorf("a report carried b3 %q, want 0 (a tracing proxy must not trace it)", h)
		}
	}
	if got := counter(t, reg, tracing.MetricSpansReported); got != n {
		t.Errorf("reported = %v, want %d", got, n)
	}
	if got := counter(t, reg, tracing.MetricSpansDropped); got != 0 {
		t.Errorf("dropped = %v, want 0", got)
	}
	// After Close: dropped and counted, never blocking.
	sendAll(t, rep, 3)
	if got := counter(t, reg, tracing.MetricSpansDropped); got != 3 {
		t.Errorf("dropped after close = %v, want 3", got)
	}
}

// A collector that refuses connections costs a request nothing: spans are
// dropped and counted, the failure is logged once, and the recovery too.
func TestReporterDropsWhenCollectorRefuses(t *testing.T) {
	kittest.CheckGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connections are refused
	reg := prometheus.NewRegistry()
	var logs kittest.LogBuffer
	rep, err := tracing.NewHTTPReporter("http://"+addr+"/api/v2/spans", fastOptions(reg, &logs))
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	const n = 200 // more than the queue holds
	sendAll(t, rep, n)
	kittest.WaitFor(t, 5*time.Second, "every span counted as dropped", func() bool {
		return counter(t, reg, tracing.MetricSpansDropped) == n
	})
	if got := counter(t, reg, tracing.MetricSpansReported); got != 0 {
		t.Errorf("reported = %v with no collector", got)
	}
	if got := strings.Count(logs.String(), "zipkin collector failed"); got != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", got, logs.String())
	}

	// The collector comes up on that address: reporting resumes.
	col := &collector{}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: col}}
	srv.Start()
	defer srv.Close()
	kittest.WaitFor(t, 10*time.Second, "spans delivered once the collector is up", func() bool {
		rep.Send(span(1))
		time.Sleep(20 * time.Millisecond)
		return col.count() > 0
	})
	kittest.WaitFor(t, 5*time.Second, "the recovery logged", func() bool {
		return strings.Contains(logs.String(), "zipkin collector answering again")
	})
}

// A collector that accepts and never answers holds nothing up either:
// Send does not block, posts time out and their spans are counted as
// dropped, and Close returns within its bound.
func TestReporterNeverWaitsForAHangingCollector(t *testing.T) {
	kittest.CheckGoroutines(t)
	release := make(chan struct{})
	var got sync.WaitGroup
	got.Add(1)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(got.Done)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	reg := prometheus.NewRegistry()
	rep, err := tracing.NewHTTPReporter(srv.URL+"/api/v2/spans", fastOptions(reg, &kittest.LogBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	sendAll(t, rep, n)
	got.Wait() // a post is hanging
	sendAll(t, rep, n)
	kittest.WaitFor(t, 5*time.Second, "spans past the queue and the hung batch dropped", func() bool {
		return counter(t, reg, tracing.MetricSpansDropped) >= n
	})
	begin := time.Now()
	if err := rep.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("Close took %v against a hanging collector, want about its 300ms bound", took)
	}
	if d, r := counter(t, reg, tracing.MetricSpansDropped), counter(t, reg, tracing.MetricSpansReported); d != 2*n || r != 0 {
		t.Errorf("dropped %v, reported %v: want all %d dropped", d, r, 2*n)
	}
}

func TestNewRegistersTheCountersWithoutACollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, closer, err := tracing.New(tracing.Config{Service: "users", Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
	}
	if !seen[tracing.MetricSpansDropped] || !seen[tracing.MetricSpansReported] {
		t.Errorf("registered %v, want both reporter counters (at zero) for the dashboards", seen)
	}
}
