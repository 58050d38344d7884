package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInventoryMetrics: reservations held follow the store (an expired
// one stops counting at its expiry, before the reaper comes), and each
// reservation the reaper releases is counted once.
func TestInventoryMetrics(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		reg := prometheus.NewRegistry()
		f := newFixture(t, newStore(t), Options{Metrics: reg})
		ctx := context.Background()
		p := f.create(t, "MET", 10)
		want := func(held, expired int) {
			t.Helper()
			exp := fmt.Sprintf(`
# HELP kitshop_products_reservations_expired_total Reservations released by the reaper after their expiry.
# TYPE kitshop_products_reservations_expired_total counter
kitshop_products_reservations_expired_total %d
# HELP kitshop_products_reservations_held Reservations holding stock: RESERVED and not yet expired (the database's count, the same on every instance).
# TYPE kitshop_products_reservations_held gauge
kitshop_products_reservations_held %d
`, expired, held)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(exp),
				"kitshop_products_reservations_held", "kitshop_products_reservations_expired_total"); err != nil {
				t.Fatal(err)
			}
		}
		want(0, 0)
		short := reserveReq(item(p.ID, 3))
		short.TTL = time.Minute
		if _, err := f.svc.ReserveInventory(ctx, short); err != nil {
			t.Fatal(err)
		}
		other := reserveReq(item(p.ID, 1))
		other.TTL = time.Minute
		if _, err := f.svc.ReserveInventory(ctx, other); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 2))); err != nil {
			t.Fatal(err)
		}
		want(3, 0)
		f.clock.Advance(time.Minute)
		want(1, 0) // two expired, not yet reaped
		if n, err := f.svc.ReapExpired(ctx); err != nil || n != 2 {
			t.Fatalf("reaped %d, %v", n, err)
		}
		want(1, 2)
		if _, err := f.svc.ReapExpired(ctx); err != nil {
			t.Fatal(err)
		}
		want(1, 2)
	})
}
