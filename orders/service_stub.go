package main

// TEMPORARY (deleted by the service work): lets the transports and main
// compile before the service exists.

import (
	"context"

	"github.com/kitshop/kitshop/kit/errs"
)

type service struct{}

// NewService returns the orders service over store and its peers. Jobs
// must run for sagas to be resumed and events relayed.
func NewService(store Store, users Users, products Products, payments Payments, opts Options) (*service, error) {
	return &service{}, nil
}

// Jobs are the background loops main runs beside the servers: resuming
// sagas, relaying events, the notification worker, purging idempotency
// keys. Each returns when ctx ends.
func (s *service) Jobs() []func(context.Context) error { return nil }

var errTODO = errs.New(errs.Internal, errs.ReasonInternal, "not implemented")

func (s *service) PlaceOrder(context.Context, PlaceOrderRequest) (Placed, error) {
	return Placed{}, errTODO
}
func (s *service) GetOrder(context.Context, string) (Order, error) { return Order{}, errTODO }
func (s *service) ListOrders(context.Context, ListRequest) (OrderPage, error) {
	return OrderPage{}, errTODO
}
func (s *service) CancelOrder(context.Context, CancelRequest) (Cancelled, error) {
	return Cancelled{}, errTODO
}
func (s *service) ShipOrder(context.Context, string) (Order, error) { return Order{}, errTODO }
func (s *service) WatchOrder(context.Context, string, func(Order) error) error {
	return errTODO
}
func (s *service) Sagas(context.Context, SagaFilter, int) ([]SagaInfo, error) { return nil, errTODO }
