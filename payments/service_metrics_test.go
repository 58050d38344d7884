package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func wantPaymentMetrics(t *testing.T, reg *prometheus.Registry, captured, declined, failed, refunds int) {
	t.Helper()
	exp := fmt.Sprintf(`
# HELP kitshop_payments_charges_total Charge outcomes recorded, by outcome (captured, declined, failed).
# TYPE kitshop_payments_charges_total counter
kitshop_payments_charges_total{outcome="captured"} %d
kitshop_payments_charges_total{outcome="declined"} %d
kitshop_payments_charges_total{outcome="failed"} %d
# HELP kitshop_payments_refunds_total Refunds recorded (a repeated refund key is not counted again).
# TYPE kitshop_payments_refunds_total counter
kitshop_payments_refunds_total %d
`, captured, declined, failed, refunds)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "kitshop_payments_charges_total", "kitshop_payments_refunds_total"); err != nil {
		t.Fatal(err)
	}
}

// TestPaymentMetricsCountRecordedOutcomes: each outcome is counted when it
// is written, once; replays of a settled charge and of a refund key count
// nothing; a charge that failed and is tried again counts both outcomes.
func TestPaymentMetricsCountRecordedOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	proc := &flakyProcessor{SimulatedProcessor: NewSimulatedProcessor()}
	svc := NewService(newMemoryStore(), nil, Options{Processor: proc, Metrics: reg, Now: func() time.Time { return testNow }})
	ctx := context.Background()
	wantPaymentMetrics(t, reg, 0, 0, 0, 0) // every outcome's series from the start

	ok := chargeReq(TestCardApproved)
	p, err := svc.Charge(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Charge(ctx, ok); err != nil { // a replay
		t.Fatal(err)
	}
	_, _ = svc.Charge(ctx, chargeReq(TestCardDeclined))
	_, _ = svc.Charge(ctx, chargeReq(TestCardInsufficientFunds))
	wantPaymentMetrics(t, reg, 1, 2, 0, 0)

	proc.fails.Store(1)
	flaky := chargeReq(TestCardApproved)
	_, _ = svc.Charge(ctx, flaky) // FAILED
	if _, err := svc.Charge(ctx, flaky); err != nil {
		t.Fatal(err) // tried again: CAPTURED
	}
	wantPaymentMetrics(t, reg, 2, 2, 1, 0)

	refund := RefundRequest{PaymentID: p.ID, AmountCents: 500, IdempotencyKey: "refund-1"}
	for range 2 { // the second is a repeat of the key
		if _, err := svc.Refund(ctx, refund); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Refund(ctx, RefundRequest{PaymentID: p.ID, AmountCents: 500, IdempotencyKey: "refund-2"}); err != nil {
		t.Fatal(err)
	}
	wantPaymentMetrics(t, reg, 2, 2, 1, 2)
}

// TestPaymentMetricsCountAbandonedCharges: a PENDING charge the processor
// never saw, given up by the recovery job, counts as failed.
func TestPaymentMetricsCountAbandonedCharges(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := newMemoryStore()
	var now atomic.Pointer[time.Time]
	now.Store(&testNow)
	clock := func() time.Time { return *now.Load() }
	down := NewService(store, nil, Options{Processor: downProcessor{}, Now: clock})
	_, _ = down.Charge(context.Background(), chargeReq(TestCardApproved)) // left PENDING

	svc := NewService(store, nil, Options{Metrics: reg, Now: clock, RecoverAfter: time.Hour})
	later := testNow.Add(2 * time.Hour)
	now.Store(&later)
	if n, err := svc.RecoverPending(context.Background()); err != nil || n != 1 {
		t.Fatalf("recovered %d, %v; want 1", n, err)
	}
	wantPaymentMetrics(t, reg, 0, 0, 1, 0)
}
