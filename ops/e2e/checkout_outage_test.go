package e2e

import (
	"syscall"
	"testing"
	"time"

	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// TestCheckoutWaitsOutPaymentsOutage places an order while payments is
// down: the checkout cannot charge, answers 202 PENDING when the request's
// deadline comes, and neither fails the order nor loses it; once payments
// is back the saga, resumed, confirms it with one charge.
func TestCheckoutWaitsOutPaymentsOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	// The breaker orders keeps on payments opens during the outage; a
	// short open timeout lets it probe payments soon after it is back.
	env := append([]string{"KITSHOP_BREAKER_OPEN_TIMEOUT=3s"}, fastSagas...)
	p := launch(t, platformConfig{instances: 1, orders: 1, ordersEnv: env, breakerOpen: 2 * time.Second})
	s := openShop(t, p, 1)
	pid := s.productID[0]

	pay := p.procs["payments"][0]
	_ = pay.cmd.Process.Signal(syscall.SIGKILL)
	_ = pay.cmd.Wait()

	resp, err := s.orders.CreateOrder(withDeadline(s.customer, 8*time.Second), orderRequest(pid, 1, cardApproved))
	if err != nil {
		t.Fatalf("CreateOrder with payments down: %v, want the order PENDING", err)
	}
	o := resp.GetOrder()
	if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING {
		t.Fatalf("order %v, want PENDING while payments is down", o)
	}
	time.Sleep(3 * time.Second) // the saga keeps waiting, unfailed
	if got, err := s.orders.GetOrder(withDeadline(s.customer, 5*time.Second), &ordersv1.GetOrderRequest{Id: o.GetId()}); err != nil ||
		got.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING {
		t.Fatalf("during the outage the order is %v (%v), want PENDING", got.GetStatus(), err)
	}

	p.start("payments")
	final := s.finalOrder(t, o.GetId(), 90*time.Second)
	if final.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("after payments came back the order is %v (%s), want CONFIRMED", final.GetStatus(), final.GetFailureReason())
	}
	pays := s.paymentsOf(t, o.GetId())
	if len(pays) != 1 || pays[0].GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED {
		t.Errorf("payments %v, want one CAPTURED", pays)
	}
	wantCheckClean(t, p)
}
