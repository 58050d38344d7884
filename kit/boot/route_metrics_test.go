package boot_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/rest"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// TestHandlerRecordsRoutesPerTemplate: the routes a service (or the
// gateway) mounts with kit/rest are counted per route template by the
// process's Handler, with nothing wired by the service.
func TestHandlerRecordsRoutesPerTemplate(t *testing.T) {
	p := newProcess(t)
	defer p.Close()
	routes := httpx.NewRouter()
	rest.Mount(routes, rest.Unary(rest.Spec[*productsv1.GetProductRequest, *productsv1.Product]{
		Method: http.MethodGet, Path: "/api/v1/products/{id}",
		Call: func(_ context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
			if r.GetId() == "gone" {
				return nil, errs.New(errs.NotFound, "PRODUCT_NOT_FOUND", "no such product")
			}
			return &productsv1.Product{Id: r.GetId()}, nil
		},
	}))
	h := p.Handler(routes)
	for _, path := range []string{"/api/v1/products/a", "/api/v1/products/b", "/api/v1/products/gone"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	for code, want := range map[string]float64{"OK": 2, "NotFound": 1} {
		c := p.RED.RequestsVec.WithLabelValues("widgets", metrics.TransportRoute, "GET /api/v1/products/{id}", code)
		if got := testutil.ToFloat64(c); got != want {
			t.Errorf("route %s = %v, want %v", code, got, want)
		}
	}
	// The HTTP transport still counts every request by HTTP method.
	if got := testutil.ToFloat64(p.RED.RequestsVec.WithLabelValues("widgets", metrics.TransportHTTP, "GET", "404")); got != 1 {
		t.Errorf("http GET 404 = %v, want 1", got)
	}
}
