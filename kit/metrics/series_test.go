package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/metrics"
)

// TestMethodRecordsWhatStartRecords: a Method makes its series on its
// first call, not before, and moves them as Start's end function does.
func TestMethodRecordsWhatStartRecords(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	m := red.Method(metrics.TransportEndpoint, "GetOrder")
	if n := testutil.CollectAndCount(red.RequestsVec) + testutil.CollectAndCount(red.InFlightVec); n != 0 {
		t.Fatalf("%d series before the first call, want none", n)
	}
	begin := m.Start()
	gauge := red.InFlightVec.WithLabelValues("orders", "endpoint", "GetOrder")
	if v := testutil.ToFloat64(gauge); v != 1 {
		t.Fatalf("in flight during the call = %v, want 1", v)
	}
	m.End(begin, "NotFound")
	m.End(m.Start(), metrics.CodeOK)
	if v := testutil.ToFloat64(gauge); v != 0 {
		t.Errorf("in flight after the calls = %v, want 0", v)
	}
	for code, want := range map[string]float64{"NotFound": 1, metrics.CodeOK: 1} {
		if v := testutil.ToFloat64(red.RequestsVec.WithLabelValues("orders", "endpoint", "GetOrder", code)); v != want {
			t.Errorf("%s counted %v, want %v", code, v, want)
		}
	}
	if n := testutil.CollectAndCount(red.DurationVec); n != 1 {
		t.Errorf("%d duration series, want 1", n)
	}
}

func TestMethodDoesNotAllocateOnceWarm(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	m := red.Method(metrics.TransportClient, "users.GetUser")
	m.End(m.Start(), metrics.CodeOK)
	if n := testing.AllocsPerRun(100, func() { m.End(m.Start(), metrics.CodeOK) }); n != 0 {
		t.Fatalf("Start and End allocate %v times per call", n)
	}
}

// TestObserveMakesNoInFlightSeries: a failure counted outside any chain
// (kit/grpcx) is observed without having been in flight, and must not
// show an in-flight series that nothing ever moves.
func TestObserveMakesNoInFlightSeries(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	red.Observe(metrics.TransportGRPC, "pkg.Svc/Get", "InvalidArgument", 0)
	if n := testutil.CollectAndCount(red.InFlightVec); n != 0 {
		t.Errorf("%d in-flight series after Observe alone, want 0", n)
	}
	if n := testutil.CollectAndCount(red.RequestsVec); n != 1 {
		t.Errorf("%d request series, want 1", n)
	}
}
