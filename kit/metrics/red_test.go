package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/metrics"
)

func TestObserveMovesCounterAndHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	red, err := metrics.NewRED(reg, "users")
	if err != nil {
		t.Fatal(err)
	}
	// Durations exact in binary, so the sum compares exactly.
	red.Observe("grpc", "GetUser", "OK", 125*time.Millisecond)
	red.Observe("grpc", "GetUser", "OK", 250*time.Millisecond)
	red.Observe("grpc", "GetUser", "NotFound", 500*time.Millisecond)

	if got := testutil.ToFloat64(red.RequestsVec.WithLabelValues("users", "grpc", "GetUser", "OK")); got != 2 {
		t.Errorf("OK count = %v, want 2", got)
	}
	if got := testutil.ToFloat64(red.RequestsVec.WithLabelValues("users", "grpc", "GetUser", "NotFound")); got != 1 {
		t.Errorf("NotFound count = %v, want 1", got)
	}
	const want = `
# HELP kitshop_request_duration_seconds Request latency in seconds, failures included.
# TYPE kitshop_request_duration_seconds histogram
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.0005"} 0
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.001"} 0
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.0025"} 0
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.005"} 0
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.01"} 0
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.025"} 0
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.05"} 0
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.1"} 0
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.25"} 2
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="0.5"} 3
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="1"} 3
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="2.5"} 3
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="5"} 3
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="10"} 3
kitshop_request_duration_seconds_bucket{method="GetUser",service="users",transport="grpc",le="+Inf"} 3
kitshop_request_duration_seconds_sum{method="GetUser",service="users",transport="grpc"} 0.875
kitshop_request_duration_seconds_count{method="GetUser",service="users",transport="grpc"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kitshop_request_duration_seconds"); err != nil {
		t.Error(err)
	}
}

func TestInFlightAndStart(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	g := red.InFlightVec.WithLabelValues("orders", "endpoint", "CreateOrder")
	done1 := red.InFlight("endpoint", "CreateOrder")
	end2 := red.Start("endpoint", "CreateOrder")
	if got := testutil.ToFloat64(g); got != 2 {
		t.Fatalf("in flight = %v, want 2", got)
	}
	done1()
	end2("Unavailable")
	if got := testutil.ToFloat64(g); got != 0 {
		t.Errorf("in flight after done = %v, want 0", got)
	}
	if got := testutil.ToFloat64(red.RequestsVec.WithLabelValues("orders", "endpoint", "CreateOrder", "Unavailable")); got != 1 {
		t.Errorf("Start did not count the outcome: %v", got)
	}
}

func TestNewREDTwiceSharesCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := metrics.NewRED(reg, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	b, err := metrics.NewRED(reg, "gateway")
	if err != nil {
		t.Fatalf("second NewRED on the same registry: %v", err)
	}
	a.Observe("http", "x", "OK", 0)
	b.Observe("http", "x", "OK", 0)
	if got := testutil.ToFloat64(a.RequestsVec.WithLabelValues("gateway", "http", "x", "OK")); got != 2 {
		t.Errorf("shared counter = %v, want 2", got)
	}
}

func TestNewREDConflictIsAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kitshop_requests_total", Help: "other"}, []string{"x"}))
	if _, err := metrics.NewRED(reg, "s"); err == nil {
		t.Error("conflicting metric accepted")
	}
}

func TestCode(t *testing.T) {
	for err, want := range map[error]string{
		nil:                               "OK",
		errs.New(errs.NotFound, "X", "x"): "NotFound",
		errs.New(errs.FailedPrecondition, "STOCK", "s"): "FailedPrecondition",
		errors.New("boom"): "Internal",
		errs.Wrap(errs.Unavailable, "DOWN", nil, "down"): "Unavailable",
	} {
		if got := metrics.Code(err); got != want {
			t.Errorf("Code(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestNewRegistryGathers(t *testing.T) {
	mfs, err := metrics.NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var hasGo bool
	for _, mf := range mfs {
		if mf.GetName() == "go_goroutines" {
			hasGo = true
		}
	}
	if !hasGo {
		t.Error("registry lacks the Go collector")
	}
}
