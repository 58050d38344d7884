package e2e

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// TestCheckoutInvariantUnderKills places a few hundred orders in parallel
// with mixed cards and stock-outs, cancels and ships some, while the two
// orders instances are killed (kill -9) and replaced at random. Once every
// saga is over:
//   - `orders check` finds no discrepancy;
//   - each product's stock plus what confirmed and shipped orders hold of
//     it equals its initial stock, and nothing stays reserved;
//   - money captured minus money refunded equals the totals of the
//     CONFIRMED and SHIPPED orders.
func TestCheckoutInvariantUnderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	p := launch(t, platformConfig{instances: 1, orders: 2, ordersEnv: fastSagas, breakerOpen: 2 * time.Second})
	s := openShop(t, p, 3)
	// A scarce product runs out early: later orders for it are stock-outs.
	scarce := s.addProduct(t, 12)

	const orders, workers = 240, 12
	cards := []string{cardApproved, cardApproved, cardApproved, cardApproved, cardApproved, cardApproved,
		cardDeclined, cardNoFunds, cardTransient}
	var placed sync.Map // order id -> true
	var next atomic.Int64
	stopKiller := make(chan struct{})
	killerDone := make(chan struct{})
	var kills atomic.Int64
	go func() { // kill one orders instance at random every ~1.5 s, replace it
		defer close(killerDone)
		for {
			select {
			case <-stopKiller:
				return
			case <-time.After(time.Duration(1000+rand.IntN(1000)) * time.Millisecond):
			}
			live := p.procs["orders"]
			victim := live[rand.IntN(len(live))]
			if victim.cmd.ProcessState != nil {
				continue
			}
			_ = victim.cmd.Process.Signal(syscall.SIGKILL)
			_ = victim.cmd.Wait()
			kills.Add(1)
			p.procs["orders"] = removeInstance(p.procs["orders"], victim)
			p.start("orders")
		}
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > orders {
					return
				}
				pid := s.productID[rand.IntN(len(s.productID))]
				if rand.IntN(8) == 0 {
					pid = scarce
				}
				qty := int64(1 + rand.IntN(3))
				req := orderRequest(pid, qty, cards[rand.IntN(len(cards))])
				req.RespondAsync = rand.IntN(3) == 0
				if id := s.place(req); id != "" {
					placed.Store(id, true)
				}
			}
		}()
	}
	wg.Wait()
	close(stopKiller)
	<-killerDone
	t.Logf("%d orders placed, %d orchestrator kills", orders, kills.Load())

	// Every saga ends, whoever drives it: every order the customer has,
	// including any whose answer was lost with its instance.
	final := map[string]*ordersv1.Order{}
	for _, o := range s.allOrders(t) {
		final[o.GetId()] = s.finalOrder(t, o.GetId(), 90*time.Second)
	}
	placed.Range(func(k, _ any) bool {
		if final[k.(string)] == nil {
			t.Errorf("order %s was answered but is not listed", k)
		}
		return true
	})
	// Cancel and ship some confirmed orders, then wait for those too.
	i := 0
	cancelled := map[string]bool{}
	for id, o := range final {
		if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
			continue
		}
		switch i % 5 {
		case 0:
			if _, err := s.orders.CancelOrder(withDeadline(s.customer, 30*time.Second), &ordersv1.CancelOrderRequest{Id: id}); err != nil {
				t.Errorf("CancelOrder(%s): %v", id, err)
			} else {
				cancelled[id] = true
			}
		case 1:
			if _, err := s.orders.ShipOrder(withDeadline(s.admin, 10*time.Second), &ordersv1.ShipOrderRequest{Id: id}); err != nil {
				t.Errorf("ShipOrder(%s): %v", id, err)
			}
		}
		i++
	}
	// CancelOrder may answer before its saga ends (the order is still
	// CONFIRMED then): wait until every cancelled order has left CONFIRMED.
	kittest.WaitFor(t, 60*time.Second, "cancellations complete", func() bool {
		for id := range final {
			o, err := s.orders.GetOrder(withDeadline(s.customer, 5*time.Second), &ordersv1.GetOrderRequest{Id: id})
			if err != nil || cancelled[id] && o.GetStatus() == ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
				return false
			}
			final[id] = o
		}
		return true
	})
	for id := range cancelled {
		if got := final[id].GetStatus(); got != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
			t.Errorf("order %s cancelled by its customer ended %s, want CANCELLED", id, got)
		}
	}

	wantCheckClean(t, p)

	sold := map[string]int64{}
	var owed, statuses = int64(0), map[ordersv1.OrderStatus]int{}
	for _, o := range final {
		statuses[o.GetStatus()]++
		switch o.GetStatus() {
		case ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED, ordersv1.OrderStatus_ORDER_STATUS_SHIPPED:
			owed += o.GetTotalCents()
			for _, it := range o.GetItems() {
				sold[it.GetProductId()] += it.GetQuantity()
			}
		case ordersv1.OrderStatus_ORDER_STATUS_PENDING:
			t.Errorf("order %s still PENDING", o.GetId())
		}
	}
	t.Logf("final statuses: %v", statuses)
	for pid, initial := range s.initial {
		pr := s.product(t, pid)
		if pr.GetStock()+sold[pid] != initial || pr.GetReserved() != 0 {
			t.Errorf("product %s: stock %d + sold %d != %d (reserved %d)", pid, pr.GetStock(), sold[pid], initial, pr.GetReserved())
		}
	}
	var captured, refunded int64
	for _, pay := range s.allPayments(t) {
		switch pay.GetStatus() {
		case paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED, paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED:
			captured += pay.GetAmountCents()
			refunded += pay.GetRefundedCents()
		}
	}
	if captured-refunded != owed {
		t.Errorf("captured %d - refunded %d = %d, but confirmed and shipped orders total %d", captured, refunded, captured-refunded, owed)
	}
}

// place sends one order as a careful client does: with its idempotency
// key, again after a failure that says nothing about the order (the
// instance died mid-call), until it gets an answer. It returns the id of
// the order the answer names ("" when none was made).
func (s *shop) place(req *ordersv1.CreateOrderRequest) string {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := s.orders.CreateOrder(withDeadline(s.customer, 15*time.Second), req)
		if err == nil {
			return resp.GetOrder().GetId()
		}
		switch e := errs.As(err); e.Kind {
		case errs.Unavailable, errs.DeadlineExceeded, errs.Canceled:
			time.Sleep(200 * time.Millisecond)
			continue
		default:
			if e.Reason == "IDEMPOTENCY_IN_PROGRESS" {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			return e.MetaString("order_id")
		}
	}
	return ""
}

// allOrders lists every order of the customer.
func (s *shop) allOrders(t *testing.T) []*ordersv1.Order {
	t.Helper()
	var out []*ordersv1.Order
	token := ""
	for {
		resp, err := s.orders.ListOrders(withDeadline(s.customer, 10*time.Second),
			&ordersv1.ListOrdersRequest{PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatalf("ListOrders: %v", err)
		}
		out = append(out, resp.GetOrders()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// allPayments lists every payment payments holds.
func (s *shop) allPayments(t *testing.T) []*paymentsv1.Payment {
	t.Helper()
	var out []*paymentsv1.Payment
	token := ""
	for {
		resp, err := s.payments.ListPayments(withDeadline(context.Background(), 10*time.Second),
			&paymentsv1.ListPaymentsRequest{PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatalf("ListPayments: %v", err)
		}
		out = append(out, resp.GetPayments()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func removeInstance(list []*instance, victim *instance) []*instance {
	out := list[:0:0]
	for _, in := range list {
		if in != victim {
			out = append(out, in)
		}
	}
	return out
}
