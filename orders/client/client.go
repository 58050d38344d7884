package client

import (
	"context"
	"time"

	"github.com/kitshop/kitshop/kit/sd"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// Service is the name orders registers under.
const Service = "orders"

// Client calls the orders service's unary methods. Reads are retried on
// another instance when one is unavailable; CreateOrder and CancelOrder
// are retried only when they carry an idempotency key (the service
// answers a repeat with the first outcome), ShipOrder never (it is
// idempotent by state, but a second attempt would answer 409). Errors
// keep the kind and reason the service returned (see the Reason
// constants), or are Unavailable with kit/sd's NO_INSTANCES or kit/mw's
// BREAKER_OPEN when no call was made.
type Client interface {
	CreateOrder(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error)
	GetOrder(context.Context, *ordersv1.GetOrderRequest) (*ordersv1.Order, error)
	ListOrders(context.Context, *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error)
	CancelOrder(context.Context, *ordersv1.CancelOrderRequest) (*ordersv1.Order, error)
	ShipOrder(context.Context, *ordersv1.ShipOrderRequest) (*ordersv1.Order, error)
	// Close releases the connections; calls fail afterwards.
	Close() error
}

// waitingAttempt bounds one attempt of CreateOrder and CancelOrder. They
// wait for their saga until the call's deadline (less a margin to
// answer), so the usual write timeout (sd.Keyed's 5 s) would cut every
// slow checkout short and turn it into a 202; the caller's deadline,
// which the attempt never outlives, is the real bound. A caller without
// one still gets an answer within this.
const waitingAttempt = time.Minute

// The policies of the waiting writes: retried on another instance only
// with a key, whose repeat the service answers with the first outcome
// (or IDEMPOTENCY_IN_PROGRESS while the first attempt still runs there).
var (
	waitingKeyed = sd.Policy{Attempts: sd.Keyed.Attempts, AttemptTimeout: waitingAttempt}
	waitingOnce  = sd.Policy{Attempts: 1, AttemptTimeout: waitingAttempt}
)

// New returns a Client for the backend cfg describes (see
// kit/boot.Process.Backend); cfg.Service defaults to "orders".
//
// kit/sd fixes a method's policy when the method is built, so CreateOrder
// and CancelOrder are built twice, keyed and once, sharing the backend's
// connections and breaker, and each call picks by its key.
func New(cfg sd.BackendConfig) (Client, error) {
	if cfg.Service == "" {
		cfg.Service = Service
	}
	b, err := sd.NewBackend(cfg, ordersv1.NewOrdersServiceClient)
	if err != nil {
		return nil, err
	}
	type oc = ordersv1.OrdersServiceClient
	return &client{
		Backend:          b,
		createOrderKeyed: sd.Unary(b, "CreateOrder", waitingKeyed, oc.CreateOrder),
		createOrderOnce:  sd.Unary(b, "CreateOrder", waitingOnce, oc.CreateOrder),
		getOrder:         sd.Unary(b, "GetOrder", sd.Read, oc.GetOrder),
		listOrders:       sd.Unary(b, "ListOrders", sd.Read, oc.ListOrders),
		cancelOrderKeyed: sd.Unary(b, "CancelOrder", waitingKeyed, oc.CancelOrder),
		cancelOrderOnce:  sd.Unary(b, "CancelOrder", waitingOnce, oc.CancelOrder),
		shipOrder:        sd.Unary(b, "ShipOrder", sd.Once, oc.ShipOrder),
	}, nil
}

type client struct {
	*sd.Backend[ordersv1.OrdersServiceClient]
	createOrderKeyed, createOrderOnce func(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error)
	getOrder                          func(context.Context, *ordersv1.GetOrderRequest) (*ordersv1.Order, error)
	listOrders                        func(context.Context, *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error)
	cancelOrderKeyed, cancelOrderOnce func(context.Context, *ordersv1.CancelOrderRequest) (*ordersv1.Order, error)
	shipOrder                         func(context.Context, *ordersv1.ShipOrderRequest) (*ordersv1.Order, error)
}

func (c *client) CreateOrder(ctx context.Context, r *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	if r.GetIdempotencyKey() != "" {
		return c.createOrderKeyed(ctx, r)
	}
	return c.createOrderOnce(ctx, r)
}

func (c *client) GetOrder(ctx context.Context, r *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	return c.getOrder(ctx, r)
}

func (c *client) ListOrders(ctx context.Context, r *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	return c.listOrders(ctx, r)
}

func (c *client) CancelOrder(ctx context.Context, r *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	if r.GetIdempotencyKey() != "" {
		return c.cancelOrderKeyed(ctx, r)
	}
	return c.cancelOrderOnce(ctx, r)
}

func (c *client) ShipOrder(ctx context.Context, r *ordersv1.ShipOrderRequest) (*ordersv1.Order, error) {
	return c.shipOrder(ctx, r)
}
