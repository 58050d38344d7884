package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/metrics"
)

// Attempts are counted per backend version and outcome, and the version
// label is bounded whatever instances register.
func TestAttemptsByVersion(t *testing.T) {
	reg := metrics.NewRegistry()
	red, err := metrics.NewRED(reg, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	a := red.Attempts("products")
	a.Observe("v1", metrics.CodeOK, time.Millisecond)
	a.Observe("v2", "Unavailable", 3*time.Millisecond)
	a.Observe("v2", metrics.CodeOK, time.Millisecond)
	a.Observe("", metrics.CodeOK, time.Millisecond)
	if got := testutil.ToFloat64(red.AttemptsVecForTest().WithLabelValues("gateway", "products", "v2", "Unavailable")); got != 1 {
		t.Fatalf("v2 Unavailable = %v, want 1", got)
	}
	if got := testutil.ToFloat64(red.AttemptsVecForTest().WithLabelValues("gateway", "products", metrics.VersionUnknown, metrics.CodeOK)); got != 1 {
		t.Fatalf("unknown version = %v, want 1", got)
	}
	for i := range 3 * metrics.MaxVersions {
		a.Observe(fmt.Sprintf("x%d", i), metrics.CodeOK, time.Millisecond)
	}
	versions := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metrics.AttemptsName {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == metrics.LabelBackendVersion {
					versions[l.GetValue()] = true
				}
			}
		}
	}
	// MaxVersions distinct values plus the two catch-alls.
	if len(versions) > metrics.MaxVersions+2 || !versions[metrics.VersionOther] {
		t.Fatalf("%d version labels (%v), want at most %d and %q", len(versions), versions, metrics.MaxVersions+2, metrics.VersionOther)
	}
	var none *metrics.Attempts
	none.Observe("v1", metrics.CodeOK, time.Millisecond) // must not panic
}
