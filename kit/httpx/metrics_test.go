package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/metrics"
)

func TestMetricsCountsRequestsThatNeverReachAnEndpoint(t *testing.T) {
	red, err := metrics.NewRED(metrics.NewRegistry(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter()
	r.Methods(http.MethodGet).Path("/ok").HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	h := Metrics(red)(r)
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/ok", nil),
		httptest.NewRequest(http.MethodGet, "/missing", nil),
		httptest.NewRequest(http.MethodPost, "/ok", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, c := range []struct{ method, code string }{{"GET", "200"}, {"GET", "404"}, {"POST", "405"}} {
		if n := testutil.ToFloat64(red.RequestsVec.WithLabelValues("svc", metrics.TransportHTTP, c.method, c.code)); n != 1 {
			t.Errorf("%s %s counted %v times, want 1", c.method, c.code, n)
		}
	}
}
