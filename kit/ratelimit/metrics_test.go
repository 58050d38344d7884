package ratelimit

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metric finds the series of name whose labels include label=value (any
// series when label is empty), or nil.
func metric(t testing.TB, reg *prometheus.Registry, name, label, value string) *dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m
				}
			}
		}
	}
	return nil
}

func counterValue(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	m := metric(t, reg, name, label, value)
	if m == nil {
		t.Fatalf("no series %s{%s=%q}", name, label, value)
	}
	return m.GetCounter().GetValue()
}

func gaugeValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	m := metric(t, reg, name, "", "")
	if m == nil {
		t.Fatalf("no series %s", name)
	}
	return m.GetGauge().GetValue()
}

func TestMetricsCountByTier(t *testing.T) {
	tiers := DefaultTiers()
	f := newFixture(t, Config{APIKeys: map[string]Tier{"pro-key": tiers["pro"]}})
	anon := f.client(t, request("192.0.2.1:1"))
	pro := f.client(t, request("192.0.2.1:1", HeaderAPIKey, "pro-key"))
	f.allowN(anon, 25)
	f.allowN(pro, 7)
	f.SetShare(3)

	for _, c := range []struct {
		name, tier string
		want       float64
	}{
		{"kitshop_ratelimit_admitted_total", Anonymous, 20},
		{"kitshop_ratelimit_rejected_total", Anonymous, 5},
		{"kitshop_ratelimit_admitted_total", "pro", 7},
		{"kitshop_ratelimit_rejected_total", "pro", 0},
		{"kitshop_ratelimit_admitted_total", "enterprise", 0},
	} {
		if got := counterValue(t, f.reg, c.name, "tier", c.tier); got != c.want {
			t.Errorf("%s{tier=%q} = %v, want %v", c.name, c.tier, got, c.want)
		}
	}
	if got := gaugeValue(t, f.reg, "kitshop_ratelimit_buckets"); got != 2 {
		t.Errorf("buckets = %v, want 2", got)
	}
	if got := gaugeValue(t, f.reg, "kitshop_ratelimit_share"); got != 3 {
		t.Errorf("share = %v, want 3", got)
	}
	// Only tier names label the series: four tiers, two outcomes.
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if n := len(mf.GetMetric()); n > 4 {
			t.Errorf("%s has %d series, want at most one per tier", mf.GetName(), n)
		}
	}
}

func TestTwoLimitersShareOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := New(Config{Registerer: reg}); err != nil {
			t.Fatalf("second limiter on one registry: %v", err)
		}
	}
}
