package client

import (
	"context"
	"errors"
	"io"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/sd"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// OrderWatcher follows one order's status (WatchOrder).
type OrderWatcher interface {
	// WatchOrder returns the stream of the order: the order now, then on
	// every status change, ending with io.EOF once the order is in a
	// final state. The caller's identity (kit/auth's token in ctx) is
	// forwarded: another user's order is NOT_FOUND, as GetOrder answers.
	// The stream lives until ctx ends or the server ends it; it is not
	// resumed. Opening fails at once, without a call, when the backend's
	// breaker is open or no instance is registered.
	WatchOrder(ctx context.Context, id string) (OrderStream, error)
}

// OrderStream is an open WatchOrder: Recv returns the order's next state,
// or the error that ended the stream (io.EOF after a final state).
type OrderStream interface {
	Recv() (*ordersv1.Order, error)
}

// NewOrderWatcher returns the OrderWatcher over c's backend: its
// instances, connections and breaker. c must come from New. Build it once
// and share it: each watcher follows discovery on its own.
func NewOrderWatcher(c Client) (OrderWatcher, error) {
	cl, ok := c.(*client)
	if !ok {
		return nil, errors.New("orders client: NewOrderWatcher needs a client made by New")
	}
	return &orderWatcher{open: sd.ServerStream(cl.Backend, "WatchOrder", ordersv1.OrdersServiceClient.WatchOrder)}, nil
}

type orderWatcher struct {
	open func(context.Context, *ordersv1.WatchOrderRequest) (ordersv1.OrdersService_WatchOrderClient, error)
}

func (w *orderWatcher) WatchOrder(ctx context.Context, id string) (OrderStream, error) {
	s, err := w.open(ctx, &ordersv1.WatchOrderRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return orderStream{s}, nil
}

// orderStream maps the stream's errors into kit/errs, keeping io.EOF.
type orderStream struct {
	s ordersv1.OrdersService_WatchOrderClient
}

func (s orderStream) Recv() (*ordersv1.Order, error) {
	o, err := s.s.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errs.FromGRPC(err)
	}
	return o, err
}
