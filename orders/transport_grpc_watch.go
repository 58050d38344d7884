package main

import (
	"context"

	"github.com/kitshop/kitshop/kit/errs"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// WatchOrder streams the order as it is, then on every status change
// (from whichever instance made it), and ends once the order is final:
// the Service's WatchOrder, with each order sent as it comes. The client
// going away ends it (the stream's context). So does shutdown, with an
// expected UNAVAILABLE, so that the client watches again on another
// instance instead of holding this one's drain open.
//
// Errors (a malformed id, NOT_FOUND for another user's order) become
// statuses in kit/grpcx's stream interceptors, which also log, measure
// and recover the stream, as auth's interceptor authenticated it.
func (s *grpcServer) WatchOrder(r *ordersv1.WatchOrderRequest, stream ordersv1.OrdersService_WatchOrderServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	ended := make(chan struct{})
	defer close(ended)
	go func() {
		select {
		case <-s.draining:
			cancel()
		case <-ended:
		}
	}()
	err := s.svc.WatchOrder(ctx, r.GetId(), func(o Order) error { return stream.Send(orderToPB(o)) })
	if err != nil && stream.Context().Err() == nil && isClosed(s.draining) {
		return errShuttingDown
	}
	return err
}

// errShuttingDown is Expected: this instance is healthy, just leaving, so
// the client should watch again elsewhere without counting it as a failure.
var errShuttingDown = errs.New(errs.Unavailable, errs.ReasonUnavailable, "server is shutting down; watch again").AsExpected()

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
