package sd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/sd"
)

// TestBackendCountsRetriesTheBudgetRefused: every call to a failing
// backend that ends with fewer attempts than its policy allows ended
// because the budget refused the retry, and exactly those are counted
// in kitshop_retry_budget_exhausted_total{service,backend}; the series
// exists at 0 as soon as the backend is built.
func TestBackendCountsRetriesTheBudgetRefused(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	red, err := metrics.NewRED(reg, "orders")
	if err != nil {
		t.Fatal(err)
	}
	f := startBackendFake(t)
	now := time.Now()
	backend := newBackend(t, sd.BackendConfig{
		Addr: f.addr, Chain: mw.Chain{Service: "orders", RED: red},
		// The breaker must stay closed: it is the budget under test.
		Breaker: mw.BreakerSettings{ConsecutiveFailures: 1 << 20},
		// A frozen clock and no reserve: tokens come only from calls.
		Budget: sd.BudgetSettings{MinPerSecond: -1, Now: func() time.Time { return now }},
	})
	const want = `
# HELP kitshop_retry_budget_exhausted_total Retries not made because the caller's retry budget for the backend was empty.
# TYPE kitshop_retry_budget_exhausted_total counter
kitshop_retry_budget_exhausted_total{backend="users",service="orders"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kitshop_retry_budget_exhausted_total"); err != nil {
		t.Fatalf("before any call: %v", err)
	}
	exhausted := red.RetryBudgetExhausted("users")
	get := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)
	f.failWith(status.Error(codes.Unavailable, "down"))

	var refused float64
	for i := range 12 {
		before := f.calls.Load()
		if err := check(context.Background(), get); err == nil {
			t.Fatal("a failing backend answered")
		}
		attempts := f.calls.Load() - before
		if attempts < int64(sd.Read.Attempts) {
			refused++
		}
		if got := testutil.ToFloat64(exhausted); got != refused {
			t.Fatalf("call %d (%d attempts): counter %v, want %v", i, attempts, got, refused)
		}
	}
	// The budget starts with 10 tokens: 12 calls of 2 retries each must
	// run out of it.
	if refused == 0 {
		t.Fatal("the budget never refused a retry")
	}
}
