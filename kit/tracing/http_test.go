package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tracing"
)

// serve runs one request through HTTPServer and reports the trace id and
// traceparent the handler saw in its context, and the response.
func serve(t *testing.T, tracer *zipkin.Tracer, header http.Header) (seenTrace, seenTP string, rec *httptest.ResponseRecorder, req *http.Request) {
	t.Helper()
	h := tracing.HTTPServer(tracer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenTrace = tracing.TraceID(r.Context())
		seenTP = tracing.Traceparent(r.Context())
		w.WriteHeader(http.StatusTeapot)
	}))
	req = httptest.NewRequest(http.MethodGet, "/api/v1/products", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusTeapot {
		t.Fatalf("status = %d: handler not reached", rec.Code)
	}
	return seenTrace, seenTP, rec, req
}

func TestHTTPServerContinuesW3CTrace(t *testing.T) {
	tracer, spans := kittest.NewTracer(t, "")
	const in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	trace, tp, rec, req := serve(t, tracer, http.Header{"Traceparent": {in}})

	if trace != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("handler trace id = %q, want the caller's", trace)
	}
	out := rec.Header().Get("traceparent")
	if out != tp {
		t.Errorf("response traceparent %q != handler's span %q", out, tp)
	}
	sc, ok := tracing.ParseTraceparent(out)
	if !ok {
		t.Fatalf("response traceparent %q is not valid W3C", out)
	}
	if sc.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.ID.String() == "00f067aa0ba902b7" || !*sc.Sampled {
		t.Errorf("response traceparent %q: want same trace, our own span, sampled", out)
	}
	if req.Header.Get("b3") != "" {
		t.Error("the caller's request headers were modified")
	}
	got := spans.Spans()
	if len(got) != 1 || got[0].ParentID == nil || got[0].ParentID.String() != "00f067aa0ba902b7" || got[0].Kind != "SERVER" {
		t.Errorf("recorded spans = %+v, want one SERVER span whose parent is the caller's", got)
	}
}

func TestHTTPServerPrefersB3(t *testing.T) {
	tracer, _ := kittest.NewTracer(t, "")
	trace, _, rec, _ := serve(t, tracer, http.Header{
		"X-B3-Traceid": {"463ac35c9f6413ad48485a3953bb6124"},
		"X-B3-Spanid":  {"a2fb4a1d1a96d312"},
		"X-B3-Sampled": {"1"},
		"Traceparent":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	})
	if trace != "463ac35c9f6413ad48485a3953bb6124" {
		t.Errorf("trace id = %q, want the B3 one", trace)
	}
	if !strings.Contains(rec.Header().Get("traceparent"), "-463ac35c9f6413ad48485a3953bb6124-") {
		t.Errorf("traceparent %q does not carry the B3 trace", rec.Header().Get("traceparent"))
	}
}

func TestHTTPServerStartsTraceWithoutHeaders(t *testing.T) {
	tracer, _ := kittest.NewTracer(t, "")
	for _, h := range []http.Header{nil, {"Traceparent": {"00-zz-bad-01"}}} {
		trace, _, rec, _ := serve(t, tracer, h)
		sc, ok := tracing.ParseTraceparent(rec.Header().Get("traceparent"))
		if !ok || sc.TraceID.String() != trace || len(trace) != 32 {
			t.Errorf("headers %v: traceparent %q, handler trace %q", h, rec.Header().Get("traceparent"), trace)
		}
	}
}

func TestHTTPServerKeepsUnsampledDecision(t *testing.T) {
	tracer, spans := kittest.NewTracer(t, "")
	_, _, rec, _ := serve(t, tracer, http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}})
	if tp := rec.Header().Get("traceparent"); !strings.HasSuffix(tp, "-00") || !strings.Contains(tp, "4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("traceparent = %q, want same trace, flags 00", tp)
	}
	if n := len(spans.Spans()); n != 0 {
		t.Errorf("%d spans recorded for an unsampled trace", n)
	}
}

// TestHTTPClientPropagates runs a real two-hop HTTP call: the edge continues
// a W3C trace, calls the backend with HTTPClient, and the backend sees the
// same trace through B3.
func TestHTTPClientPropagates(t *testing.T) {
	kittest.CheckGoroutines(t)
	tracer, _ := kittest.NewTracer(t, "")
	backendTrace := make(chan string, 1)
	backend := httptest.NewServer(tracing.HTTPServer(tracer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendTrace <- tracing.TraceID(r.Context())
	})))
	defer backend.Close()

	client := tracing.HTTPClient(tracer)
	defer client.CloseIdleConnections()
	edge := httptest.NewServer(tracing.HTTPServer(tracer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, backend.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("backend call: %v", err)
			return
		}
		resp.Body.Close()
	})))
	defer edge.Close()

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, edge.URL, nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if got := <-backendTrace; got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("backend trace = %q, want the edge's caller's trace", got)
	}
	if !strings.Contains(resp.Header.Get("traceparent"), "4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("edge response traceparent = %q", resp.Header.Get("traceparent"))
	}
}

func TestHTTPClientWithoutTracer(t *testing.T) {
	if c := tracing.HTTPClient(nil); c == nil || c.Transport != nil {
		t.Errorf("HTTPClient(nil) = %+v, want a plain client", c)
	}
}

// The production tracer gives unsampled calls no-op spans: they must still
// carry the caller's trace on, with its decision, and the request still
// learns its trace id.
func TestProductionTracerUnsampledCallsKeepTheTrace(t *testing.T) {
	tracer, closer, err := tracing.New(tracing.Config{Service: "products", SampleRate: tracing.NeverSample})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	seenTrace, _, rec, _ := serve(t, tracer, http.Header{"Traceparent": {"00-" + trace + "-00f067aa0ba902b7-00"}})
	if tp := rec.Header().Get("traceparent"); !strings.HasSuffix(tp, "-00") || !strings.Contains(tp, trace) {
		t.Errorf("traceparent = %q, want the same trace, flags 00", tp)
	}
	if seenTrace != trace {
		t.Errorf("handler saw trace %q, want %q", seenTrace, trace)
	}
	// A new trace at a zero sample rate still gets an id to answer with.
	seenTrace, _, rec, _ = serve(t, tracer, nil)
	if seenTrace == "" || !strings.Contains(rec.Header().Get("traceparent"), seenTrace) {
		t.Errorf("new unsampled trace: id %q, traceparent %q", seenTrace, rec.Header().Get("traceparent"))
	}
}
