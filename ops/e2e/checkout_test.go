package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// Test cards (API.md, Payments).
const (
	cardApproved     = "4242424242424242"
	cardDeclined     = "4000000000000002"
	cardNoFunds      = "4000000000009995"
	cardTransient    = "4000000000000119"
	initialStock     = 1000
	productPriceCent = 1299
)

// fastSagas: see kittest.FastSagas.
var fastSagas = kittest.FastSagas

// shop is the platform seen by a customer and an operator: the orders
// client (as the gateway would call it), and users, products and payments
// clients with orders' identity for looking behind the scenes.
type shop struct {
	p         *platform
	orders    ordersclient.Client
	users     usersclient.Client
	products  productsclient.Client
	payments  paymentsclient.Client
	admin     context.Context // carries the admin's token
	customer  context.Context // carries a customer's token
	productID []string
	// initial is each product's stock when created.
	initial map[string]int64
}

func openShop(t testing.TB, p *platform, products int) *shop {
	return openShopStock(t, p, products, initialStock)
}

func openShopStock(t testing.TB, p *platform, products int, stock int64) *shop {
	t.Helper()
	ctx := timeout(t)
	s := &shop{p: p, initial: map[string]int64{}}
	gw := p.caller("gateway")
	backend := func(svc string) sd.BackendConfig {
		cfg, err := gw.Backend(svc)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	var err error
	if s.orders, err = ordersclient.New(backend("orders")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.orders.Close() })
	c := newClients(t, p.caller("orders"))
	s.users, s.products, s.payments = c.users, c.products, c.payments

	admin, err := s.users.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	s.admin = auth.WithToken(context.Background(), admin.GetAccessToken())
	email := "shopper-" + uuid.NewString()[:8] + "@example.com"
	if _, err := s.users.CreateUser(ctx, &usersv1.CreateUserRequest{Email: email, Password: "correct horse", Name: "Shopper"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	session, err := s.users.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: email, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	s.customer = auth.WithToken(context.Background(), session.GetAccessToken())
	for range products {
		s.productID = append(s.productID, s.addProduct(t, stock))
	}
	return s
}

// addProduct creates a product with the given stock and returns its id.
func (s *shop) addProduct(t testing.TB, stock int64) string {
	t.Helper()
	pr, err := s.products.CreateProduct(withDeadline(s.admin, 10*time.Second), &productsv1.CreateProductRequest{
		Sku: "SKU-" + uuid.NewString()[:13], Name: "Product " + uuid.NewString()[:4],
		Description: "for the checkout tests", Category: "test", PriceCents: productPriceCent, Currency: "USD", Stock: stock,
	})
	if err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	s.initial[pr.GetId()] = stock
	return pr.GetId()
}

func withDeadline(ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(ctx, d)
	_ = cancel // the deadline ends it; tests are short-lived
	return ctx
}

func orderCard(number string) *commonv1.Card {
	return &commonv1.Card{Number: number, ExpMonth: 12, ExpYear: int32(time.Now().Year() + 2), Cvc: "123"}
}

func orderRequest(productID string, qty int64, card string) *ordersv1.CreateOrderRequest {
	return &ordersv1.CreateOrderRequest{
		Items: []*ordersv1.LineItem{{ProductId: productID, Quantity: qty}},
		ShippingAddress: &commonv1.Address{Line1: "1 Main St", City: "Springfield", State: "IL",
			PostalCode: "62701", Country: "US"},
		Payment: orderCard(card), IdempotencyKey: uuid.NewString(),
	}
}

// finalOrder polls the order until its checkout is over (not PENDING).
func (s *shop) finalOrder(t *testing.T, id string, within time.Duration) *ordersv1.Order {
	t.Helper()
	var final *ordersv1.Order
	var last any = "no answer yet"
	// WaitFor's failure names only the condition: say what the order was.
	defer func() {
		if final == nil {
			t.Logf("order %s: last answer %v", id, last)
		}
	}()
	kittest.WaitFor(t, within, "order "+id+" to leave PENDING", func() bool {
		o, err := s.orders.GetOrder(withDeadline(s.customer, 5*time.Second), &ordersv1.GetOrderRequest{Id: id})
		switch {
		case err != nil:
			last = err
		case o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING:
			final = o
		default:
			last = o.GetStatus()
		}
		return final != nil
	})
	return final
}

func (s *shop) product(t testing.TB, id string) *productsv1.Product {
	t.Helper()
	p, err := s.products.GetProduct(withDeadline(context.Background(), 5*time.Second), &productsv1.GetProductRequest{Id: id})
	if err != nil {
		t.Fatalf("GetProduct: %v", err)
	}
	return p
}

// paymentsOf lists every payment recorded for an order.
func (s *shop) paymentsOf(t *testing.T, orderID string) []*paymentsv1.Payment {
	t.Helper()
	resp, err := s.payments.ListPayments(withDeadline(context.Background(), 5*time.Second),
		&paymentsv1.ListPaymentsRequest{OrderId: orderID, PageSize: 100})
	if err != nil {
		t.Fatalf("ListPayments(%s): %v", orderID, err)
	}
	return resp.GetPayments()
}

// runCheck runs `orders check` as an operator would, against the same
// database and registry, and returns its exit code and output.
func (p *platform) runCheck(t *testing.T) (int, string) {
	t.Helper()
	cmd := exec.Command(p.bin["orders"], "check", "-grace=1ms")
	cmd.Env = append(append(os.Environ(), p.env...), tlsEnv(p.certs["orders"])...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("orders check: %v\n%s", err, out)
	return -1, ""
}

func wantCheckClean(t *testing.T, p *platform) {
	t.Helper()
	code, out := p.runCheck(t)
	if code != 0 {
		t.Fatalf("orders check exited %d:\n%s", code, out)
	}
	t.Logf("orders check: %s", strings.TrimSpace(out))
}

// TestCheckoutOutcomes places orders through real processes on Postgres
// and checks each outcome in all three services.
func TestCheckoutOutcomes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	p := launch(t, platformConfig{instances: 1, orders: 1, ordersEnv: fastSagas, breakerOpen: 2 * time.Second})
	s := openShop(t, p, 1)
	pid := s.productID[0]

	t.Run("confirmed", func(t *testing.T) {
		resp, err := s.orders.CreateOrder(withDeadline(s.customer, 20*time.Second), orderRequest(pid, 2, cardApproved))
		if err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
		o := resp.GetOrder()
		if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED || o.GetTotalCents() != 2*productPriceCent {
			t.Fatalf("order %v, want CONFIRMED for %d", o, 2*productPriceCent)
		}
		if got := s.product(t, pid); got.GetStock() != initialStock-2 || got.GetReserved() != 0 {
			t.Errorf("product stock %d reserved %d, want %d and 0", got.GetStock(), got.GetReserved(), initialStock-2)
		}
		pays := s.paymentsOf(t, o.GetId())
		if len(pays) != 1 || pays[0].GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED ||
			pays[0].GetAmountCents() != o.GetTotalCents() || pays[0].GetId() != o.GetPaymentId() {
			t.Errorf("payments %v, want one CAPTURED of the total, named by the order", pays)
		}
	})

	for _, tc := range []struct {
		name, card, reason string
		payment            paymentsv1.PaymentStatus
	}{
		{"declined", cardDeclined, ordersclient.ReasonPaymentDeclined, paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED},
		{"insufficient funds", cardNoFunds, ordersclient.ReasonInsufficientFunds, paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED},
		{"transient processor error", cardTransient, ordersclient.ReasonPaymentFailed, paymentsv1.PaymentStatus_PAYMENT_STATUS_FAILED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.product(t, pid).GetStock()
			_, err := s.orders.CreateOrder(withDeadline(s.customer, 40*time.Second), orderRequest(pid, 3, tc.card))
			e := errs.As(err)
			if err == nil || e.Reason != tc.reason || e.HTTPStatus() != 402 {
				t.Fatalf("CreateOrder = %v, want 402 %s", err, tc.reason)
			}
			id := e.MetaString(ordersclient.MetaOrderID)
			o := s.finalOrder(t, id, 10*time.Second)
			if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED || o.GetFailureReason() != tc.reason {
				t.Errorf("order %v, want CANCELLED with %s", o, tc.reason)
			}
			if got := s.product(t, pid); got.GetStock() != before || got.GetReserved() != 0 {
				t.Errorf("stock %d reserved %d after the failure, want %d and 0", got.GetStock(), got.GetReserved(), before)
			}
			pays := s.paymentsOf(t, id)
			if len(pays) != 1 || pays[0].GetStatus() != tc.payment {
				t.Errorf("payments %v, want one %s", pays, tc.payment)
			}
		})
	}

	t.Run("insufficient stock charges nothing", func(t *testing.T) {
		scarce := s.addProduct(t, 3)
		_, err := s.orders.CreateOrder(withDeadline(s.customer, 20*time.Second), orderRequest(scarce, 4, cardApproved))
		e := errs.As(err)
		if err == nil || e.Reason != ordersclient.ReasonInsufficientStock || e.HTTPStatus() != 409 {
			t.Fatalf("CreateOrder = %v, want 409 INSUFFICIENT_STOCK", err)
		}
		if e.MetaString(ordersclient.MetaProductID) != scarce {
			t.Errorf("metadata %v does not name the product", e.Meta)
		}
		// Without the order id the check below could not look: a failed
		// placement always names the order it left behind.
		id := e.MetaString(ordersclient.MetaOrderID)
		if id == "" {
			t.Fatalf("metadata %v does not name the order", e.Meta)
		}
		if pays := s.paymentsOf(t, id); len(pays) != 0 {
			t.Errorf("a stock-out attempted payments %v", pays)
		}
	})

	t.Run("cancel refunds and restocks", func(t *testing.T) {
		before := s.product(t, pid).GetStock()
		resp, err := s.orders.CreateOrder(withDeadline(s.customer, 20*time.Second), orderRequest(pid, 4, cardApproved))
		if err != nil {
			t.Fatal(err)
		}
		id := resp.GetOrder().GetId()
		if _, err := s.orders.CancelOrder(withDeadline(s.customer, 20*time.Second), &ordersv1.CancelOrderRequest{Id: id}); err != nil {
			t.Fatalf("CancelOrder: %v", err)
		}
		// A CONFIRMED order stays CONFIRMED until its cancel saga ends.
		kittest.WaitFor(t, 20*time.Second, "cancellation completes", func() bool {
			got, err := s.orders.GetOrder(withDeadline(s.customer, 5*time.Second), &ordersv1.GetOrderRequest{Id: id})
			return err == nil && got.GetStatus() == ordersv1.OrderStatus_ORDER_STATUS_CANCELLED
		})
		if got := s.product(t, pid).GetStock(); got != before {
			t.Errorf("stock %d after cancel, want %d", got, before)
		}
		pays := s.paymentsOf(t, id)
		if len(pays) != 1 || pays[0].GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED {
			t.Errorf("payments %v, want one REFUNDED", pays)
		}
		if _, err := s.orders.ShipOrder(withDeadline(s.admin, 5*time.Second), &ordersv1.ShipOrderRequest{Id: id}); errs.ReasonOf(err) != ordersclient.ReasonInvalidOrderState {
			t.Errorf("shipping a cancelled order: %v, want INVALID_ORDER_STATE", err)
		}
	})

	wantCheckClean(t, p)
}

// waitLine waits for a line containing want in a process's output file.
func waitLine(t *testing.T, path, want string, within time.Duration) {
	t.Helper()
	kittest.WaitFor(t, within, fmt.Sprintf("%q in %s", want, path), func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), want)
	})
}
