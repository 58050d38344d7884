package main

import (
	"context"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/payments/client"
)

// TestRefundByChargeKey: the saga's compensation names the charge by its
// idempotency key and learns whether money went back.
func TestRefundByChargeKey(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			ctx := context.Background()

			req := chargeReq(TestCardApproved)
			p, err := f.svc.Charge(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			byKey := RefundRequest{ChargeKey: req.IdempotencyKey, IdempotencyKey: "comp-1", Reason: "saga compensation"}
			r, err := f.svc.Refund(ctx, byKey)
			if err != nil || r.Outcome != RefundRefunded || r.AmountCents != p.AmountCents || r.Payment == nil ||
				r.Payment.ID != p.ID || r.Payment.Status != StatusRefunded {
				t.Fatalf("Refund by key = %+v, %v; want all of payment %s REFUNDED", r, err, p.ID)
			}
			// The compensation repeated: the same answer, no second refund.
			again, err := f.svc.Refund(ctx, byKey)
			if err != nil || again.Outcome != RefundRefunded || again.AmountCents != p.AmountCents || *again.Payment != *r.Payment {
				t.Fatalf("repeat = %+v, %v; want %+v", again, err, r)
			}
			if evs, _ := f.store.Events(ctx, p.ID); len(evs) != 3 {
				t.Fatalf("events %+v, want ATTEMPTED, CHARGED, one REFUNDED", evs)
			}
		})
	}
}

// TestRefundOfNothing: "Saga compensations are safe against nothing"
// (API.md). A refund by key of a charge that never happened, or moved no
// money, succeeds as NOTHING_TO_REFUND and changes nothing.
func TestRefundOfNothing(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			ctx := context.Background()

			r, err := f.svc.Refund(ctx, RefundRequest{ChargeKey: "never-sent", IdempotencyKey: "comp-1"})
			if err != nil || r.Outcome != RefundNothingToRefund || r.Payment != nil || r.AmountCents != 0 {
				t.Fatalf("Refund of a charge never made = %+v, %v; want NOTHING_TO_REFUND, no payment", r, err)
			}
			if _, err := f.store.ChargeByKey(ctx, "never-sent"); err == nil {
				t.Fatal("refunding nothing recorded a payment")
			}

			for _, number := range []string{TestCardDeclined, TestCardProcessingError} {
				req := chargeReq(number)
				_, _ = f.svc.Charge(ctx, req)
				before, _ := f.store.ChargeByKey(ctx, req.IdempotencyKey)
				evsBefore, _ := f.store.Events(ctx, before.ID)
				r, err := f.svc.Refund(ctx, RefundRequest{ChargeKey: req.IdempotencyKey, IdempotencyKey: "comp-" + number})
				if err != nil || r.Outcome != RefundNothingToRefund || r.Payment == nil || *r.Payment != before {
					t.Fatalf("%s: Refund by key = %+v, %v; want NOTHING_TO_REFUND with %+v", number, r, err, before)
				}
				if evs, _ := f.store.Events(ctx, before.ID); len(evs) != len(evsBefore) {
					t.Fatalf("%s: refunding nothing wrote to the ledger: %+v", number, evs)
				}
				// By payment id the same payment is still "not captured":
				// only compensation by key is defined as safe against nothing.
				_, err = f.svc.Refund(ctx, RefundRequest{PaymentID: before.ID, IdempotencyKey: "by-id-" + number})
				kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonNotCaptured)
			}
		})
	}
}

// TestRefundByKeySettlesAPendingCharge: the compensation of a charge whose
// outcome was lost learns it from the processor first, then refunds.
func TestRefundByKeySettlesAPendingCharge(t *testing.T) {
	f := newCrashFixture(t, newMemoryStore())
	req := chargeReq(TestCardApproved)
	pending := f.loseOutcome(t, req)
	r, err := f.svc.Refund(context.Background(), RefundRequest{ChargeKey: req.IdempotencyKey, IdempotencyKey: "comp-1"})
	if err != nil || r.Outcome != RefundRefunded || r.Payment.ID != pending.ID || r.Payment.Status != StatusRefunded ||
		r.AmountCents != req.AmountCents {
		t.Fatalf("Refund = %+v, %v; want the settled charge refunded in full", r, err)
	}
}
