package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/valid"
	"github.com/kitshop/kitshop/payments/client"
)

func (f *svcFixture) captured(t *testing.T, amount int64) Payment {
	t.Helper()
	req := chargeReq(TestCardApproved)
	req.AmountCents = amount
	p, err := f.svc.Charge(context.Background(), req)
	if err != nil {
		t.Fatalf("Charge: %v", err)
	}
	return p
}

func refundReq(id string, amount int64) RefundRequest {
	return RefundRequest{PaymentID: id, AmountCents: amount, IdempotencyKey: "refund-" + uuid.NewString(), Reason: "order cancelled"}
}

// refund calls Refund and returns the payment it reports, for tests of
// refunds of payments that exist.
func (f *svcFixture) refund(ctx context.Context, req RefundRequest) (Payment, error) {
	r, err := f.svc.Refund(ctx, req)
	if err != nil {
		return Payment{}, err
	}
	if r.Outcome != RefundRefunded || r.Payment == nil {
		return Payment{}, fmt.Errorf("refund result %+v: want REFUNDED with the payment", r)
	}
	return *r.Payment, nil
}

func TestRefundPartialThenFull(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			ctx := context.Background()
			p := f.captured(t, 1000)

			got, err := f.refund(ctx, refundReq(p.ID, 300))
			if err != nil || got.RefundedCents != 300 || got.Status != StatusCaptured {
				t.Fatalf("partial refund = %+v, %v; want 300 refunded, still CAPTURED", got, err)
			}
			// Zero refunds whatever is left.
			got, err = f.refund(ctx, refundReq(p.ID, 0))
			if err != nil || got.RefundedCents != 1000 || got.Status != StatusRefunded {
				t.Fatalf("full refund = %+v, %v; want 1000 refunded, REFUNDED", got, err)
			}
			evs, _ := f.store.Events(ctx, p.ID)
			if len(evs) != 4 || evs[2].AmountCents != 300 || evs[3].AmountCents != 700 || evs[3].RequestedCents != 0 ||
				evs[3].Type != EventRefunded || evs[3].Reason != "order cancelled" {
				t.Fatalf("events %+v, want ATTEMPTED, CHARGED, REFUNDED 300, REFUNDED 700", evs)
			}
			// Nothing is left to refund.
			_, err = f.refund(ctx, refundReq(p.ID, 0))
			kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonRefundExceedsCaptured)
		})
	}
}

func TestRefundAboveCapturedIsRefused(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	ctx := context.Background()
	p := f.captured(t, 1000)
	_, err := f.refund(ctx, refundReq(p.ID, 1001))
	e := kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonRefundExceedsCaptured)
	if e.Meta["refundable_cents"] != int64(1000) {
		t.Fatalf("meta %v, want refundable_cents 1000", e.Meta)
	}
	if _, err := f.refund(ctx, refundReq(p.ID, 600)); err != nil {
		t.Fatal(err)
	}
	_, err = f.refund(ctx, refundReq(p.ID, 401))
	if e := kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonRefundExceedsCaptured); e.Meta["refundable_cents"] != int64(400) {
		t.Fatalf("meta %v, want refundable_cents 400", e.Meta)
	}
	if got, _ := f.store.Payment(ctx, p.ID); got.RefundedCents != 600 {
		t.Fatalf("refunded %d, want 600", got.RefundedCents)
	}
}

func TestRefundIdempotency(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			ctx := context.Background()
			p := f.captured(t, 1000)
			req := refundReq(p.ID, 250)
			first, err := f.refund(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			again, err := f.refund(ctx, req)
			if err != nil || again != first || again.RefundedCents != 250 {
				t.Fatalf("repeat = %+v, %v; want %+v", again, err, first)
			}
			// The same key for another amount or another payment.
			other := f.captured(t, 1000)
			for _, r := range []RefundRequest{
				{PaymentID: p.ID, AmountCents: 300, IdempotencyKey: req.IdempotencyKey},
				{PaymentID: p.ID, AmountCents: 0, IdempotencyKey: req.IdempotencyKey},
				{PaymentID: other.ID, AmountCents: 250, IdempotencyKey: req.IdempotencyKey},
			} {
				_, err := f.refund(ctx, r)
				if e := kittest.WantErr(t, err, errs.FailedPrecondition, errs.ReasonIdempotencyKeyReused); e.MetaString("payment_id") != p.ID {
					t.Fatalf("meta %v, want payment_id %s", e.Meta, p.ID)
				}
			}
			if got, _ := f.store.Payment(ctx, other.ID); got.RefundedCents != 0 {
				t.Fatalf("other payment refunded %d, want 0", got.RefundedCents)
			}
			evs, _ := f.store.Events(ctx, p.ID)
			if len(evs) != 3 {
				t.Fatalf("events %+v, want ATTEMPTED, CHARGED and one REFUNDED", evs)
			}
			// A full refund under a key replays as a full refund.
			full := refundReq(other.ID, 0)
			a, err := f.refund(ctx, full)
			if err != nil || a.Status != StatusRefunded {
				t.Fatalf("full refund = %+v, %v", a, err)
			}
			if b, err := f.refund(ctx, full); err != nil || b != a {
				t.Fatalf("repeat of full refund = %+v, %v; want %+v", b, err, a)
			}
		})
	}
}

// TestConcurrentRefundsDoNotOverRefund: 20 refunds of 100 race for a
// 1000 payment; exactly 10 win.
func TestConcurrentRefundsDoNotOverRefund(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			ctx := context.Background()
			p := f.captured(t, 1000)
			const n = 20
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, refused := 0, 0
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.refund(ctx, refundReq(p.ID, 100))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, ErrRefundExceedsCaptured):
						refused++
					default:
						t.Errorf("Refund: %v", err)
					}
				}()
			}
			wg.Wait()
			if ok != 10 || refused != 10 {
				t.Fatalf("%d refunds succeeded and %d were refused, want 10 and 10", ok, refused)
			}
			got, _ := f.store.Payment(ctx, p.ID)
			if got.RefundedCents != 1000 || got.Status != StatusRefunded {
				t.Fatalf("payment %+v, want 1000 refunded, REFUNDED", got)
			}
			evs, _ := f.store.Events(ctx, p.ID)
			if len(evs) != 12 {
				t.Fatalf("%d events, want 12", len(evs))
			}
		})
	}
}

// TestConcurrentRefundsSameKey: one refund however many times it races.
func TestConcurrentRefundsSameKey(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			ctx := context.Background()
			p := f.captured(t, 1000)
			req := refundReq(p.ID, 400)
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if got, err := f.refund(ctx, req); err != nil || got.RefundedCents != 400 {
						t.Errorf("Refund = %+v, %v; want 400 refunded", got, err)
					}
				}()
			}
			wg.Wait()
			if evs, _ := f.store.Events(ctx, p.ID); len(evs) != 3 {
				t.Fatalf("%d events, want 3", len(evs))
			}
		})
	}
}

func TestRefundRequiresCapturedPayment(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	ctx := context.Background()
	for _, number := range []string{TestCardDeclined, TestCardProcessingError} {
		_, err := f.svc.Charge(ctx, chargeReq(number))
		id := errs.As(err).MetaString("payment_id")
		_, err = f.refund(ctx, refundReq(id, 0))
		kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonNotCaptured)
	}
	_, err := f.refund(ctx, refundReq(uuid.NewString(), 0))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown payment: %v, want ErrNotFound", err)
	}
	_, err = f.refund(ctx, RefundRequest{PaymentID: "nope", AmountCents: -1})
	wantFields(t, err, "payment_id", "amount_cents", "idempotency_key")
	_, err = f.refund(ctx, RefundRequest{PaymentID: uuid.NewString(), ChargeKey: "k", AmountCents: valid.MaxAmountCents + 1,
		IdempotencyKey: "r", Reason: strings.Repeat("x", 501)})
	wantFields(t, err, "charge_idempotency_key", "amount_cents", "reason")
}
