package rest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/metrics"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// TestRoutesRecordREDPerTemplate: with the process's RED handed down
// (metrics.WithRED, as kit/boot does), each route counts its calls under
// transport "route", labelled with its method and path template (never
// the path, so ids do not become labels) and the errs kind it answered.
func TestRoutesRecordREDPerTemplate(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "gateway")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeProducts{}
	h := metrics.WithRED(red)(serve(t, f.routes()))
	count := func(method, code string) float64 {
		return testutil.ToFloat64(red.RequestsVec.WithLabelValues("gateway", metrics.TransportRoute, method, code))
	}

	do(t, h, newRequest("GET", "/api/v1/products?q=mug", "", nil))
	do(t, h, newRequest("GET", "/api/v1/products", "", nil))
	do(t, h, newRequest("PATCH", "/api/v1/products/9b1d", `{"name":"x"}`, nil))
	do(t, h, newRequest("PATCH", "/api/v1/products/0c2e", `{"name":"y"}`, nil))
	// Refused by the route's guard, by its validation, by the call.
	do(t, h, newRequest("PATCH", "/api/v1/products/9b1d", `{}`, http.Header{"X-Admin": {"no"}}))
	do(t, h, newRequest("POST", "/api/v1/products", `{}`, nil))
	f.err = errs.ToGRPC(errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "not enough"))
	do(t, h, newRequest("POST", "/api/v1/products/9b1d/stock", `{"delta":-9}`, nil))
	f.err = nil
	// No route: not a route's call.
	do(t, h, newRequest("GET", "/api/v1/nowhere", "", nil))

	for _, c := range []struct {
		method, code string
		want         float64
	}{
		{"GET /api/v1/products", "OK", 2},
		{"PATCH /api/v1/products/{id}", "OK", 2},
		{"PATCH /api/v1/products/{id}", "PermissionDenied", 1},
		{"POST /api/v1/products", "InvalidArgument", 1},
		{"POST /api/v1/products/{id}/stock", "FailedPrecondition", 1},
	} {
		if got := count(c.method, c.code); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.method, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(red.RequestsVec); n != 5 {
		t.Errorf("%d request series, want the 5 above (no path, no unmatched route)", n)
	}
	if n := testutil.CollectAndCount(red.DurationVec); n != 4 {
		t.Errorf("%d duration series, want one per route called", n)
	}
	g := red.InFlightVec.WithLabelValues("gateway", metrics.TransportRoute, "GET /api/v1/products")
	if v := testutil.ToFloat64(g); v != 0 {
		t.Errorf("in flight after the calls = %v", v)
	}
}

// TestRouteCountsTheAnswerOfACallCutOff: a call whose request ended is
// counted as what it was answered as (Canceled for a client that went
// away), not as the backend's error.
func TestRouteCountsTheAnswerOfACallCutOff(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "products")
	if err != nil {
		t.Fatal(err)
	}
	h := metrics.WithRED(red)(serve(t, []Route{Unary(Spec[*productsv1.GetProductRequest, *productsv1.Product]{
		Method: "GET", Path: "/p/{id}",
		Call: func(ctx context.Context, _ *productsv1.GetProductRequest) (*productsv1.Product, error) {
			<-ctx.Done()
			return nil, errs.New(errs.Unavailable, errs.ReasonUnavailable, "canceling statement")
		},
	})}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	do(t, h, newRequest("GET", "/p/1", "", nil).WithContext(ctx))
	if got := testutil.ToFloat64(red.RequestsVec.WithLabelValues("products", metrics.TransportRoute, "GET /p/{id}", "Canceled")); got != 1 {
		t.Fatalf("Canceled = %v, want 1", got)
	}
}

// TestRoutesWithoutREDRecordNothing: a router served without WithRED
// (a test, a tool) works as before.
func TestRoutesWithoutREDRecordNothing(t *testing.T) {
	f := &fakeProducts{}
	if r := do(t, serve(t, f.routes()), newRequest("GET", "/api/v1/products", "", nil)); r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
}

func TestRouteMetricsDoNotAllocateOnceWarm(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "products")
	if err != nil {
		t.Fatal(err)
	}
	h := &handler[*productsv1.GetProductRequest, *productsv1.Product]{}
	r := newRequest("GET", "/p/1", "", nil)
	r = r.WithContext(metrics.NewContext(r.Context(), red))
	r = muxRouted(t, r, "/p/{id}")
	m := h.routeMetric(r)
	if m == nil {
		t.Fatal("no recorder inside a route")
	}
	if n := testing.AllocsPerRun(100, func() { h.routeMetric(r).End(h.routeMetric(r).Start(), metrics.CodeOK) }); n != 0 {
		t.Fatalf("route metrics allocate %v times per call", n)
	}
}

// muxRouted is r as a mux route with template tpl hands it to its handler.
func muxRouted(t *testing.T, r *http.Request, tpl string) *http.Request {
	t.Helper()
	var routed *http.Request
	router := mux.NewRouter()
	router.Path(tpl).HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { routed = r })
	router.ServeHTTP(httptest.NewRecorder(), r)
	if routed == nil {
		t.Fatalf("%s did not match %s", r.URL.Path, tpl)
	}
	return routed
}

// BenchmarkRouteMetrics is the cost of the per-route RED on one small
// GET: the same router with and without the process's RED handed down.
func BenchmarkRouteMetrics(b *testing.B) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "products")
	if err != nil {
		b.Fatal(err)
	}
	r := httpx.NewRouter()
	Mount(r, Unary(Spec[*productsv1.GetProductRequest, *productsv1.Product]{
		Method: "GET", Path: "/api/v1/products/{id}",
		Call: func(_ context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
			return &productsv1.Product{Id: r.GetId(), Name: "mug"}, nil
		},
	}))
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"bare", r}, {"metered", metrics.WithRED(red)(r)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest(http.MethodGet, "/api/v1/products/9b1d", nil)
			for b.Loop() {
				c.h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
