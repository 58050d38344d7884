package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tracing"
)

// The server span is named after the route the router matched, which the
// tracing middleware outside cannot know.
func TestServerSpanIsNamedAfterTheRoute(t *testing.T) {
	tracer, rec := kittest.NewTracer(t, "products")
	r := httpx.NewRouter()
	r.Methods(http.MethodGet).Path("/api/v1/products/{id}").HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := httpx.RequestID(tracing.HTTPServer(tracer, httpx.AccessLog(log.NewNopLogger())(r)))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/v1/products/42", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	spans := rec.Spans()
	if len(spans) != 2 || spans[0].Name != "get /api/v1/products/{id}" || spans[1].Name != "GET" {
		t.Fatalf("span names %q and %q: want the route's, and the tracer's own for a request no route matched", spans[0].Name, spans[1].Name)
	}
}
