package main

import (
	"context"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
)

// inventoryMetrics are the products service's domain metrics:
//
//	kitshop_products_reservations_held           gauge: RESERVED reservations not yet expired
//	kitshop_products_reservations_expired_total  counter: reservations the reaper released
//
// held is counted in the store when Prometheus scrapes: reservations are
// shared by every instance, so no instance could keep the number itself.
// Every instance exports the same value; aggregate it with max().
type inventoryMetrics struct {
	expired prometheus.Counter
}

// newInventoryMetrics registers s's metrics with reg (nil: none). A
// registration that fails (a conflicting metric of the same name: a
// programming error) is logged and leaves the service running unmeasured
// rather than refusing to start.
func newInventoryMetrics(reg prometheus.Registerer, s *service) *inventoryMetrics {
	m := &inventoryMetrics{expired: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kitshop_products_reservations_expired_total",
		Help: "Reservations released by the reaper after their expiry.",
	})}
	if reg == nil {
		return m
	}
	held := metrics.NewScrapedGauge(prometheus.GaugeOpts{
		Name: "kitshop_products_reservations_held",
		Help: "Reservations holding stock: RESERVED and not yet expired (the database's count, the same on every instance).",
	}, 0, func(ctx context.Context) (float64, error) {
		n, err := s.store.HeldReservations(ctx, s.now())
		return float64(n), err
	}, func(err error) {
		_ = level.Warn(s.opts.Logger).Log("msg", "kitshop_products_reservations_held left out of the scrape", "err", err)
	})
	expired, err := metrics.Register(reg, m.expired)
	if err == nil {
		m.expired = expired // the one registered before, when there was one
		_, err = metrics.Register(reg, held)
	}
	if err != nil {
		_ = level.Error(s.opts.Logger).Log("msg", "products metrics not registered", "err", err)
	}
	return m
}
