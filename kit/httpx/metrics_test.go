package httpx

import (
	"fmt"
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

// TestMetricsBoundTheMethodLabel: 50 invented methods used to make 50
// series.
func TestMetricsBoundTheMethodLabel(t *testing.T) {
	red, err := metrics.NewRED(metrics.NewRegistry(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	h := Metrics(red)(NewRouter())
	for i := range 50 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(fmt.Sprintf("INVENTED%d", i), "/x", nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("get", "/x", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	if n := testutil.CollectAndCount(red.RequestsVec); n != 2 {
		t.Fatalf("%d series, want 2 (OTHER and GET)", n)
	}
	if n := testutil.ToFloat64(red.RequestsVec.WithLabelValues("svc", metrics.TransportHTTP, MethodOther, "404")); n != 51 {
		t.Fatalf("OTHER counted %v, want 51", n)
	}
}

func TestStatusLabelIsBounded(t *testing.T) {
	for code, want := range map[int]string{200: "200", 599: "599", 99: "other", 600: "other", 999: "other"} {
		if got := statusLabel(code); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", code, got, want)
		}
	}
}
