package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/metrics"
)

// TestMethodLabelsAreBounded: whatever a caller passes as the method, one
// transport never gets more than MaxMethods series (plus OTHER).
func TestMethodLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	red, err := metrics.NewRED(reg, "svc")
	if err != nil {
		t.Fatal(err)
	}
	const extra = 50
	for i := range metrics.MaxMethods + extra {
		m := fmt.Sprintf("/raw/path/%d", i)
		red.Start(metrics.TransportHTTP, m)(metrics.CodeOK)
		red.Observe(metrics.TransportHTTP, m, metrics.CodeOK, time.Millisecond)
	}
	// Another transport has its own allowance.
	red.Start(metrics.TransportEndpoint, "GetUser")(metrics.CodeOK)

	if n := testutil.CollectAndCount(red.RequestsVec); n != metrics.MaxMethods+2 {
		t.Fatalf("%d request series, want %d (MaxMethods, OTHER and one endpoint)", n, metrics.MaxMethods+2)
	}
	if got := testutil.ToFloat64(red.RequestsVec.WithLabelValues("svc", metrics.TransportHTTP, metrics.MethodOther, metrics.CodeOK)); got != 2*extra {
		t.Fatalf("OTHER counted %v requests, want %d", got, 2*extra)
	}
	// An admitted method keeps its own label.
	red.Start(metrics.TransportHTTP, "/raw/path/0")(metrics.CodeOK)
	if got := testutil.ToFloat64(red.RequestsVec.WithLabelValues("svc", metrics.TransportHTTP, "/raw/path/0", metrics.CodeOK)); got != 3 {
		t.Fatalf("an admitted method counted %v, want 3", got)
	}
	if n := testutil.CollectAndCount(red.InFlightVec); n != metrics.MaxMethods+2 {
		t.Fatalf("%d in-flight series, want %d", n, metrics.MaxMethods+2)
	}
}

func TestStartDoesNotAllocateOnceWarm(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	red.Observe(metrics.TransportEndpoint, "GetUser", metrics.CodeOK, 0)
	n := testing.AllocsPerRun(100, func() {
		red.Observe(metrics.TransportEndpoint, "GetUser", metrics.CodeOK, time.Millisecond)
	})
	if n != 0 {
		t.Fatalf("Observe allocates %v times per call", n)
	}
}
