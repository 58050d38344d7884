package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/metrics"
)

// TestBreakersExportFromTheStart: a tracked backend shows its breaker
// closed and every transition counter at 0 before anything happens, and
// a transition moves both.
func TestBreakersExportFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	b, err := metrics.NewBreakers(reg, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	b.Track("orders")
	const start = `
# HELP kitshop_breaker_state State of the caller's circuit breaker per backend: 0 closed, 1 half-open, 2 open.
# TYPE kitshop_breaker_state gauge
kitshop_breaker_state{backend="orders",service="gateway"} 0
# HELP kitshop_breaker_transitions_total Circuit breaker state changes per backend, by the state entered.
# TYPE kitshop_breaker_transitions_total counter
kitshop_breaker_transitions_total{backend="orders",service="gateway",to="closed"} 0
kitshop_breaker_transitions_total{backend="orders",service="gateway",to="half-open"} 0
kitshop_breaker_transitions_total{backend="orders",service="gateway",to="open"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(start)); err != nil {
		t.Fatal(err)
	}
	b.Changed("orders", "open")
	const opened = `
# HELP kitshop_breaker_state State of the caller's circuit breaker per backend: 0 closed, 1 half-open, 2 open.
# TYPE kitshop_breaker_state gauge
kitshop_breaker_state{backend="orders",service="gateway"} 2
# HELP kitshop_breaker_transitions_total Circuit breaker state changes per backend, by the state entered.
# TYPE kitshop_breaker_transitions_total counter
kitshop_breaker_transitions_total{backend="orders",service="gateway",to="closed"} 0
kitshop_breaker_transitions_total{backend="orders",service="gateway",to="half-open"} 0
kitshop_breaker_transitions_total{backend="orders",service="gateway",to="open"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(opened)); err != nil {
		t.Fatal(err)
	}
}
