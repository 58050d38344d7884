package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/rest/resttest"
	"github.com/kitshop/kitshop/kit/sd"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// flakyOrders fails each method's first call with UNAVAILABLE and
// answers the next, recording how many calls came and the time each had
// left.
type flakyOrders struct {
	ordersv1.UnimplementedOrdersServiceServer
	mu    sync.Mutex
	calls map[string]int
	left  map[string]time.Duration
}

func (f *flakyOrders) call(ctx context.Context, method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if dl, ok := ctx.Deadline(); ok {
		f.left[method] = time.Until(dl)
	}
	if f.calls[method] == 1 {
		return status.Error(codes.Unavailable, "restarting")
	}
	return nil
}

func (f *flakyOrders) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *flakyOrders) CreateOrder(ctx context.Context, r *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	if err := f.call(ctx, "CreateOrder/"+r.GetIdempotencyKey()); err != nil {
		return nil, err
	}
	return &ordersv1.CreateOrderResponse{Order: &ordersv1.Order{Id: "o1"}}, nil
}

func (f *flakyOrders) CancelOrder(ctx context.Context, r *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	if err := f.call(ctx, "CancelOrder/"+r.GetIdempotencyKey()); err != nil {
		return nil, err
	}
	return &ordersv1.Order{Id: r.GetId()}, nil
}

func (f *flakyOrders) GetOrder(ctx context.Context, r *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	if err := f.call(ctx, "GetOrder"); err != nil {
		return nil, err
	}
	return &ordersv1.Order{Id: r.GetId()}, nil
}

func (f *flakyOrders) ShipOrder(ctx context.Context, r *ordersv1.ShipOrderRequest) (*ordersv1.Order, error) {
	if err := f.call(ctx, "ShipOrder"); err != nil {
		return nil, err
	}
	return &ordersv1.Order{Id: r.GetId()}, nil
}

func newFlakyClient(t *testing.T) (Client, *flakyOrders) {
	t.Helper()
	f := &flakyOrders{calls: map[string]int{}, left: map[string]time.Duration{}}
	conn := resttest.ServeGRPC(t, func(s *grpc.Server) { ordersv1.RegisterOrdersServiceServer(s, f) })
	c, err := New(sd.BackendConfig{
		Addr: conn.Target(),
		Dial: func(target string) (*grpc.ClientConn, error) {
			return grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, f
}

// The retry policy is chosen per call: a write with an idempotency key is
// repeated after an UNAVAILABLE (the service answers a repeat with the
// first outcome), one without is sent once, and so is ShipOrder; reads
// are repeated.
func TestRetriesOnlyWhatIsSafeToRepeat(t *testing.T) {
	c, f := newFlakyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if _, err := c.CreateOrder(ctx, &ordersv1.CreateOrderRequest{IdempotencyKey: "k1"}); err != nil || f.count("CreateOrder/k1") != 2 {
		t.Fatalf("keyed CreateOrder: %v after %d calls, want success after 2", err, f.count("CreateOrder/k1"))
	}
	_, err := c.CreateOrder(ctx, &ordersv1.CreateOrderRequest{})
	if errs.KindOf(err) != errs.Unavailable || f.count("CreateOrder/") != 1 {
		t.Fatalf("unkeyed CreateOrder: %v after %d calls, want UNAVAILABLE after 1", err, f.count("CreateOrder/"))
	}
	if _, err := c.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Id: "o1", IdempotencyKey: "c1"}); err != nil || f.count("CancelOrder/c1") != 2 {
		t.Fatalf("keyed CancelOrder: %v after %d calls", err, f.count("CancelOrder/c1"))
	}
	if _, err := c.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Id: "o1"}); errs.KindOf(err) != errs.Unavailable || f.count("CancelOrder/") != 1 {
		t.Fatalf("unkeyed CancelOrder: %v after %d calls", err, f.count("CancelOrder/"))
	}
	if _, err := c.ShipOrder(ctx, &ordersv1.ShipOrderRequest{Id: "o1"}); errs.KindOf(err) != errs.Unavailable || f.count("ShipOrder") != 1 {
		t.Fatalf("ShipOrder: %v after %d calls", err, f.count("ShipOrder"))
	}
	if _, err := c.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: "o1"}); err != nil || f.count("GetOrder") != 2 {
		t.Fatalf("GetOrder: %v after %d calls", err, f.count("GetOrder"))
	}

	// The waiting writes keep the caller's deadline (the service waits for
	// its saga within it); reads get the short attempt timeout.
	f.mu.Lock()
	defer f.mu.Unlock()
	if left := f.left["CreateOrder/k1"]; left < 15*time.Second {
		t.Errorf("CreateOrder's attempt had %v left of the caller's 20 s", left)
	}
	if left := f.left["CancelOrder/"]; left < 15*time.Second {
		t.Errorf("CancelOrder's attempt had %v left of the caller's 20 s", left)
	}
	if left := f.left["GetOrder"]; left > sd.Read.AttemptTimeout {
		t.Errorf("GetOrder's attempt had %v, more than the read timeout", left)
	}
}
