package main

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

// Endpoints are the orders service's unary operations, each wrapped in
// the standard middleware chain. Both transports serve these same values;
// WatchOrder, a stream, calls the Service directly (go-kit has no
// streams), under the gRPC stream interceptors.
type Endpoints struct {
	PlaceOrder  endpoint.Endpoint // PlaceOrderRequest -> Placed
	GetOrder    endpoint.Endpoint // string (order id) -> Order
	ListOrders  endpoint.Endpoint // ListRequest -> OrderPage
	CancelOrder endpoint.Endpoint // CancelRequest -> Cancelled
	ShipOrder   endpoint.Endpoint // string (order id) -> Order
	Sagas       endpoint.Endpoint // SagasRequest -> []SagaInfo (the debug endpoint)
}

// SagasRequest asks for the sagas the debug endpoint shows.
type SagasRequest struct {
	Filter SagaFilter
	Limit  int
}

// MakeEndpoints wires s behind chain; method names match the gRPC methods
// (PlaceOrder is CreateOrder) so logs and metrics read the same whichever
// transport served a call.
func MakeEndpoints(s Service, chain mw.Chain) Endpoints {
	sagas := func(ctx context.Context, r SagasRequest) ([]SagaInfo, error) { return s.Sagas(ctx, r.Filter, r.Limit) }
	return Endpoints{
		PlaceOrder:  chain.Wrap("CreateOrder", typed.Endpoint(s.PlaceOrder)),
		GetOrder:    chain.Wrap("GetOrder", typed.Endpoint(s.GetOrder)),
		ListOrders:  chain.Wrap("ListOrders", typed.Endpoint(s.ListOrders)),
		CancelOrder: chain.Wrap("CancelOrder", typed.Endpoint(s.CancelOrder)),
		ShipOrder:   chain.Wrap("ShipOrder", typed.Endpoint(s.ShipOrder)),
		Sagas:       chain.Wrap("Sagas", typed.Endpoint(sagas)),
	}
}
