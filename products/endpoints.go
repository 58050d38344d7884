package main

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

// Endpoints are the products service's unary operations, each wrapped in
// the standard middleware chain. Both transports serve these same values;
// the streaming RPCs (ListProducts, ImportProducts, WatchStock) call the
// Service directly, as go-kit has no streams.
type Endpoints struct {
	CreateProduct      endpoint.Endpoint // NewProduct -> Product (admin)
	UpdateProduct      endpoint.Endpoint // ProductUpdate -> Product (admin)
	GetProduct         endpoint.Endpoint // string (id) -> Product
	BatchGetProducts   endpoint.Endpoint // []string (ids) -> BatchResult
	SearchProducts     endpoint.Endpoint // SearchRequest -> SearchPage
	AdjustStock        endpoint.Endpoint // StockAdjustment -> StockResult (admin)
	ReserveInventory   endpoint.Endpoint // ReserveRequest -> Reservation (internal)
	CommitReservation  endpoint.Endpoint // ReservationRef -> Reservation (internal)
	ReleaseReservation endpoint.Endpoint // ReservationRef -> Reservation (internal)
	RestockItems       endpoint.Endpoint // RestockRequest -> RestockResult (internal)
	GetReservation     endpoint.Endpoint // ReservationRef -> Reservation (internal)
}

// MakeEndpoints wires s behind chain; method names match the gRPC methods
// so logs and metrics read the same whichever transport served a call.
//
// Catalog writes need an admin token (auth.RequireAdmin on the verified
// claims the transports put in ctx), enforced here so that HTTP and gRPC
// cannot disagree. Reads are public. The internal calls (reservations and
// RestockItems) are the checkout saga's service-to-service calls, and
// GetReservation the orders consistency checker's: they carry no user
// token, are served over gRPC only, and under mTLS accept the orders
// service alone (the allow-list is wired in main).
func MakeEndpoints(s Service, chain mw.Chain) Endpoints {
	return Endpoints{
		CreateProduct:      chain.Wrap("CreateProduct", adminOnly(typed.Endpoint(s.CreateProduct))),
		UpdateProduct:      chain.Wrap("UpdateProduct", adminOnly(typed.Endpoint(s.UpdateProduct))),
		GetProduct:         chain.Wrap("GetProduct", typed.Endpoint(s.GetProduct)),
		BatchGetProducts:   chain.Wrap("BatchGetProducts", typed.Endpoint(s.BatchGetProducts)),
		SearchProducts:     chain.Wrap("SearchProducts", typed.Endpoint(s.SearchProducts)),
		AdjustStock:        chain.Wrap("AdjustStock", adminOnly(typed.Endpoint(s.AdjustStock))),
		ReserveInventory:   chain.Wrap("ReserveInventory", typed.Endpoint(s.ReserveInventory)),
		CommitReservation:  chain.Wrap("CommitReservation", typed.Endpoint(s.CommitReservation)),
		ReleaseReservation: chain.Wrap("ReleaseReservation", typed.Endpoint(s.ReleaseReservation)),
		RestockItems:       chain.Wrap("RestockItems", typed.Endpoint(s.RestockItems)),
		GetReservation:     chain.Wrap("GetReservation", typed.Endpoint(s.GetReservation)),
	}
}

// adminOnly refuses callers without an admin token: 401 UNAUTHENTICATED
// without one, 403 PERMISSION_DENIED with another role.
func adminOnly(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		if _, err := auth.RequireAdmin(ctx); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}
