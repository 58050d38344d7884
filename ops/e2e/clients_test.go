package e2e

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

type clients struct {
	users    usersclient.Client
	products productsclient.Client
	payments paymentsclient.Client
}

func newClients(t testing.TB, proc *boot.Process) clients {
	t.Helper()
	backend := func(svc string) sd.BackendConfig {
		cfg, err := proc.Backend(svc)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	u, err := usersclient.New(backend("users"))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := productsclient.New(backend("products"))
	if err != nil {
		t.Fatal(err)
	}
	pa, err := paymentsclient.New(backend("payments"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close(); pr.Close(); pa.Close() })
	return clients{u, pr, pa}
}

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPlatformClients runs two instances of users, products and payments
// under mTLS and calls them the way orders and the gateway will: through
// their client packages, over discovery.
func TestPlatformClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	p := startPlatform(t)
	orders := newClients(t, p.caller("orders"))
	ctx := timeout(t)

	admin, err := orders.users.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatalf("admin login through users/client: %v", err)
	}
	adminCtx := auth.WithToken(ctx, admin.GetAccessToken())
	customer, err := orders.users.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "shopper@example.com", Password: "correct horse", Name: "Shopper"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	session, err := orders.users.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: "shopper@example.com", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	customerCtx := auth.WithToken(ctx, session.GetAccessToken())
	product, err := orders.products.CreateProduct(adminCtx, &productsv1.CreateProductRequest{
		Sku: "MUG-1", Name: "Blue mug", Description: "A ceramic coffee mug", Category: "kitchen",
		PriceCents: 1299, Currency: "USD", Stock: 100,
	})
	if err != nil {
		t.Fatalf("CreateProduct with the admin's token (verified by products through users' JWKS over mTLS): %v", err)
	}

	t.Run("reads spread over both instances", func(t *testing.T) {
		for range 40 {
			if _, err := orders.products.GetProduct(ctx, &productsv1.GetProductRequest{Id: product.GetId()}); err != nil {
				t.Fatalf("GetProduct: %v", err)
			}
		}
		for _, in := range p.instances("products") {
			if n := p.metric(in, "products", `method="GetProduct"`, `transport="endpoint"`); n < 10 {
				t.Errorf("instance %s served %v of 40 GetProduct calls: not balanced", in.GRPCAddr, n)
			}
		}
	})

	var payment *paymentsv1.Payment
	t.Run("the saga's calls, as orders", func(t *testing.T) {
		if _, err := orders.users.ValidateUser(ctx, &usersv1.ValidateUserRequest{UserId: customer.GetId()}); err != nil {
			t.Fatalf("ValidateUser: %v", err)
		}
		// One reservation id per saga step, as orders derives them.
		res, err := orders.products.ReserveInventory(ctx, &productsv1.ReserveInventoryRequest{
			ReservationId: "0b6a2d3e-6f0e-4c4e-8f1d-2f1d0c9a7b01", IdempotencyKey: "saga-1-reserve",
			Items: []*productsv1.ReservationItem{{ProductId: product.GetId(), Quantity: 2}},
		})
		if err != nil {
			t.Fatalf("ReserveInventory: %v", err)
		}
		if it := res.GetItems()[0]; it.GetUnitPriceCents() != 1299 || it.GetCurrency() != "USD" {
			t.Errorf("reservation item %v does not carry the unit price", it)
		}
		payment, err = orders.payments.Charge(ctx, &paymentsv1.ChargeRequest{
			OrderId: "8f1c6a52-3f5c-4d4e-9a55-0d7c8d6e2b11", UserId: customer.GetId(), AmountCents: 2598, Currency: "USD",
			Card: testCard(), IdempotencyKey: "saga-1-charge",
		})
		if err != nil {
			t.Fatalf("Charge: %v", err)
		}
		if _, err := orders.products.CommitReservation(ctx, &productsv1.CommitReservationRequest{ReservationId: res.GetId(), IdempotencyKey: "saga-1-commit"}); err != nil {
			t.Fatalf("CommitReservation: %v", err)
		}
		if _, err := orders.products.ReleaseReservation(ctx, &productsv1.ReleaseReservationRequest{ReservationIdempotencyKey: "never-reserved", IdempotencyKey: "saga-2-release"}); err != nil {
			t.Errorf("releasing a reservation that never happened: %v", err)
		}
		if _, err := orders.payments.Refund(ctx, &paymentsv1.RefundRequest{ChargeIdempotencyKey: "never-charged", IdempotencyKey: "saga-2-refund"}); err != nil {
			t.Errorf("refunding a charge that never happened: %v", err)
		}
		_, err = orders.payments.Charge(ctx, &paymentsv1.ChargeRequest{
			OrderId: "8f1c6a52-3f5c-4d4e-9a55-0d7c8d6e2b12", UserId: "5b0f3f7e-8d1a-4c57-b0a8-3a1f1d2f9c00", AmountCents: 100, Currency: "USD",
			Card: testCard(), IdempotencyKey: "saga-3-charge",
		})
		if errs.ReasonOf(err) != usersclient.ReasonUserNotFound {
			t.Errorf("charging a user users does not know: %v, want USER_NOT_FOUND", err)
		}
	})

	t.Run("internal methods refuse other services and anonymous callers", func(t *testing.T) {
		gateway := newClients(t, p.caller("gateway"))
		// Every orders-only method of products and payments, each as the
		// main packages' allow-lists must name it.
		for name, call := range map[string]func() error{
			"payments.Charge": func() error {
				_, err := gateway.payments.Charge(ctx, &paymentsv1.ChargeRequest{IdempotencyKey: "x"})
				return err
			},
			"payments.Refund": func() error {
				_, err := gateway.payments.Refund(ctx, &paymentsv1.RefundRequest{PaymentId: payment.GetId(), IdempotencyKey: "x"})
				return err
			},
			"payments.GetChargeByKey": func() error {
				_, err := gateway.payments.GetChargeByKey(ctx, &paymentsv1.GetChargeByKeyRequest{IdempotencyKey: "saga-1-charge"})
				return err
			},
			"payments.ListPayments": func() error {
				_, err := gateway.payments.ListPayments(ctx, &paymentsv1.ListPaymentsRequest{PageSize: 1})
				return err
			},
			"products.ReserveInventory": func() error {
				_, err := gateway.products.ReserveInventory(ctx, &productsv1.ReserveInventoryRequest{IdempotencyKey: "x"})
				return err
			},
			"products.CommitReservation": func() error {
				_, err := gateway.products.CommitReservation(ctx, &productsv1.CommitReservationRequest{IdempotencyKey: "x"})
				return err
			},
			"products.ReleaseReservation": func() error {
				_, err := gateway.products.ReleaseReservation(ctx, &productsv1.ReleaseReservationRequest{IdempotencyKey: "x"})
				return err
			},
			"products.RestockItems": func() error {
				_, err := gateway.products.RestockItems(ctx, &productsv1.RestockItemsRequest{IdempotencyKey: "x"})
				return err
			},
			"products.GetReservation": func() error {
				_, err := gateway.products.GetReservation(ctx, &productsv1.GetReservationRequest{})
				return err
			},
		} {
			wantDenied(t, "gateway -> "+name, call())
		}
		if _, err := gateway.users.ValidateUser(ctx, &usersv1.ValidateUserRequest{UserId: customer.GetId()}); err != nil {
			t.Errorf("gateway -> users.ValidateUser is allowed: %v", err)
		}
		// TLS without a client certificate: the server is verified, the
		// caller is nobody.
		in := p.instances("payments")[0]
		anon := anonymousConn(t, p.certs["orders"], "payments", in.GRPCAddr)
		_, err = paymentsv1.NewPaymentsServiceClient(anon).Refund(ctx, &paymentsv1.RefundRequest{PaymentId: payment.GetId(), IdempotencyKey: "steal"})
		wantDenied(t, "anonymous -> payments.Refund", err)
	})

	t.Run("kill -9 of one instance of each during reads fails no read", func(t *testing.T) {
		reads := map[string]func(context.Context) error{
			"users": func(ctx context.Context) error {
				_, err := orders.users.ValidateUser(ctx, &usersv1.ValidateUserRequest{UserId: customer.GetId()})
				return err
			},
			"products": func(ctx context.Context) error {
				_, err := orders.products.GetProduct(ctx, &productsv1.GetProductRequest{Id: product.GetId()})
				return err
			},
			"payments": func(context.Context) error {
				_, err := orders.payments.GetPayment(customerCtx, &paymentsv1.GetPaymentRequest{Id: payment.GetId()})
				return err
			},
		}
		var calls, failures atomic.Int64
		var firstErr atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for name, read := range reads {
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						err := read(ctx)
						calls.Add(1)
						if err != nil {
							failures.Add(1)
							firstErr.CompareAndSwap(nil, name+": "+err.Error())
						}
					}
				}()
			}
		}
		kittest.WaitFor(t, 20*time.Second, "reads running", func() bool { return calls.Load() > 60 })
		for _, svc := range []string{"users", "products", "payments"} {
			victim := p.procs[svc][0].cmd
			if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = victim.Wait()
		}
		// The dead instances stay listed until their leases expire (10 s):
		// keep reading a while among them, not just past the first errors.
		before, killed := calls.Load(), time.Now()
		kittest.WaitFor(t, 30*time.Second, "reads continuing after the kills", func() bool {
			return calls.Load() > before+300 && time.Since(killed) > 3*time.Second
		})
		close(stop)
		wg.Wait()
		if n := failures.Load(); n > 0 {
			t.Fatalf("%d of %d reads failed after kill -9; first: %v", n, calls.Load(), firstErr.Load())
		}
		t.Logf("%d reads, %d after the kills, none failed", calls.Load(), calls.Load()-before)
	})
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if e := errs.As(err); e == nil || e.Kind != errs.PermissionDenied || e.Reason != tlsx.ReasonCallerNotAllowed {
		t.Errorf("%s: %v, want PERMISSION_DENIED/%s", what, err, tlsx.ReasonCallerNotAllowed)
	}
}

// anonymousConn speaks TLS to svc at addr, verifying the server with the
// CA in f, but presents no certificate of its own.
func anonymousConn(t *testing.T, f tlsx.Files, svc, addr string) *grpc.ClientConn {
	t.Helper()
	id, err := tlsx.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg := id.ClientConfig(svc)
	cfg.Certificates = nil
	conn, err := grpcx.Dial(addr, grpcx.ClientConfig{}, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func testCard() *commonv1.Card {
	return &commonv1.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: int32(time.Now().Year() + 2), Cvc: "123"}
}
