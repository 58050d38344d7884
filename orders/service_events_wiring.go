package main

import (
	"context"
	"time"

	"github.com/go-kit/log"
)

// The service's event stream is eventJobs (service_events.go): the relay
// that publishes order status changes and the notification worker.
func newEventStream(store Store, logger log.Logger, now func() time.Time) eventStream {
	return newEventJobs(store, logger, now)
}

// WatchOrder follows the order event log (service_watch.go); GetOrder
// decides who may see the order.
func (s *service) WatchOrder(ctx context.Context, id string, send func(Order) error) error {
	return watchOrder(ctx, s.store, s.GetOrder, id, send)
}
