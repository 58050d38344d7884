package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
)

func TestWithREDHandsTheREDDown(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "gateway")
	if err != nil {
		t.Fatal(err)
	}
	var seen *metrics.RED
	h := metrics.WithRED(red)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen = metrics.FromContext(r.Context())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	if seen != red {
		t.Fatalf("handler saw %p, want the RED %p", seen, red)
	}
	if got := metrics.FromContext(httptest.NewRequest(http.MethodGet, "/x", nil).Context()); got != nil {
		t.Fatalf("a bare context has a RED: %p", got)
	}
	next := http.NotFoundHandler()
	if got := metrics.WithRED(nil)(next); got == nil {
		t.Fatal("WithRED(nil) dropped the handler")
	}
}

func TestRouteMethod(t *testing.T) {
	if got := metrics.RouteMethod("GET", "/api/v1/products/{id}"); got != "GET /api/v1/products/{id}" {
		t.Fatalf("RouteMethod = %q", got)
	}
}
