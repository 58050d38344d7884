package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/metrics"
)

func TestRetryBudgetExhaustedPerBackend(t *testing.T) {
	reg := prometheus.NewRegistry()
	red, err := metrics.NewRED(reg, "orders")
	if err != nil {
		t.Fatal(err)
	}
	users, payments := red.RetryBudgetExhausted("users"), red.RetryBudgetExhausted("payments")
	users.Inc()
	users.Inc()
	if n, err := testutil.GatherAndCount(reg, "kitshop_retry_budget_exhausted_total"); err != nil || n != 2 {
		t.Fatalf("%d series (err %v), want one per backend asked for", n, err)
	}
	if got := testutil.ToFloat64(users); got != 2 {
		t.Errorf("users = %v, want 2", got)
	}
	if got := testutil.ToFloat64(payments); got != 0 {
		t.Errorf("payments = %v, want 0", got)
	}
	// A second RED on the registry shares the series.
	again, err := metrics.NewRED(reg, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(again.RetryBudgetExhausted("users")); got != 2 {
		t.Errorf("shared counter = %v, want 2", got)
	}
	// Not built by NewRED: a counter that works and goes nowhere.
	var bare *metrics.RED
	bare.RetryBudgetExhausted("users").Inc()
}
