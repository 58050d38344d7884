package client

import (
	"context"

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
