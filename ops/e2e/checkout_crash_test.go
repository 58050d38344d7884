package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// TestCheckoutCrashAtEveryStep kills the orchestrator (kill -9) right
// after each saga step's remote call succeeded and before its outcome
// was saved, starts a fresh instance, and checks that the order ends in a
// correct final state: never charged twice, stock conserved.
//
// The card is never stored, so a saga whose charge had not been sent when
// its instance died cannot charge: it is compensated (PAYMENT_FAILED,
// nothing charged, stock back). Once the charge went through, the heir
// finds it by its key and completes the order.
func TestCheckoutCrashAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	crashing := kittest.BuildTagged(t, "kitshop_crashpoints", "orders")["orders"]
	p := launch(t, platformConfig{instances: 1, ordersBin: crashing, ordersEnv: fastSagas, breakerOpen: 2 * time.Second})
	s := openShop(t, p, 1)

	for _, tc := range []struct {
		step      string
		confirmed bool
	}{
		{"validate_user", false},
		{"reserve", false},
		{"charge", true},
		{"commit", true},
	} {
		t.Run(tc.step, func(t *testing.T) {
			point := "after:" + tc.step
			doomed := p.start("orders", "KITSHOP_TEST_CRASH_AT="+point)
			// Whatever happens below, the next case starts with no orders
			// instance: it must reach its own crash point.
			defer p.stopAll("orders")
			p.waitInstances("orders", 1)
			pid := s.productID[0]
			before := s.product(t, pid)

			req := orderRequest(pid, 2, cardApproved)
			req.RespondAsync = true
			resp, err := s.orders.CreateOrder(withDeadline(s.customer, 10*time.Second), req)
			if err != nil {
				t.Fatalf("CreateOrder: %v", err)
			}
			id := resp.GetOrder().GetId()
			waitLine(t, doomed.log, "CRASHPOINT "+point+" reached", 20*time.Second)
			if err := doomed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = doomed.cmd.Wait()

			p.start("orders") // the heir
			o := s.finalOrder(t, id, 60*time.Second)
			want, reason := ordersv1.OrderStatus_ORDER_STATUS_CANCELLED, ordersclient.ReasonPaymentFailed
			if tc.confirmed {
				want, reason = ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED, ""
			}
			if o.GetStatus() != want || o.GetFailureReason() != reason {
				t.Fatalf("after a crash %s the order is %s (%q), want %s (%q)", point, o.GetStatus(), o.GetFailureReason(), want, reason)
			}

			after := s.product(t, pid)
			wantStock := before.GetStock()
			if tc.confirmed {
				wantStock -= 2
			}
			if after.GetStock() != wantStock || after.GetReserved() != before.GetReserved() {
				t.Errorf("stock %d reserved %d, want %d and %d", after.GetStock(), after.GetReserved(), wantStock, before.GetReserved())
			}
			var captured int
			for _, pay := range s.paymentsOf(t, id) {
				if pay.GetStatus() == paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED {
					captured++
					if pay.GetAmountCents() != o.GetTotalCents() {
						t.Errorf("captured %d for an order of %d", pay.GetAmountCents(), o.GetTotalCents())
					}
				}
			}
			if wantCaptured := map[bool]int{true: 1, false: 0}[tc.confirmed]; captured != wantCaptured {
				t.Errorf("%d captured payments, want %d", captured, wantCaptured)
			}
		})
	}
	wantCheckClean(t, p)
}
