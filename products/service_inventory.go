package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReservationStatus is where a reservation is in its life. The numbers
// match the pb enum.
type ReservationStatus int32

const (
	// ReservationReserved holds units until commit, release or expiry.
	ReservationReserved ReservationStatus = iota + 1
	// ReservationCommitted turned its units into sold units.
	ReservationCommitted
	// ReservationReleased gave its units back on request.
	ReservationReleased
	// ReservationExpired was released by the reaper after its expiry.
	ReservationExpired
)

var statusNames = map[ReservationStatus]string{
	ReservationReserved:  "RESERVED",
	ReservationCommitted: "COMMITTED",
	ReservationReleased:  "RELEASED",
	ReservationExpired:   "EXPIRED",
}

func (s ReservationStatus) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("ReservationStatus(%d)", int32(s))
}

// parseReservationStatus is the inverse of String.
func parseReservationStatus(name string) (ReservationStatus, bool) {
	for s, n := range statusNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// ReservationItem is a quantity of one product.
type ReservationItem struct {
	ProductID string
	Quantity  int64
}

// Reservation holds units of products for a checkout. Items are sorted by
// product id, one entry per product.
type Reservation struct {
	ID             string
	IdempotencyKey string
	Status         ReservationStatus
	Items          []ReservationItem
	ExpiresAt      time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ReserveRequest is the input of ReserveInventory.
//
// Idempotency: ReservationID (the checkout uses the order id) and
// IdempotencyKey (defaults to ReservationID) both identify the request. A
// repeat that names an existing reservation with the same id and the same
// items (after merging) returns that reservation as it is now, whatever its
// status, and holds nothing more; TTL is not compared. The same key or id
// with other items is ErrIdempotencyKeyReused. A request that failed left
// nothing behind, so repeating it tries again (and may now succeed).
type ReserveRequest struct {
	ReservationID string
	Items         []ReservationItem
	// TTL 0 means Options.DefaultTTL; at most MaxTTL.
	TTL            time.Duration
	IdempotencyKey string
}

// ReservationRef names a reservation to commit or release. Both calls are
// idempotent by the reservation's state, so IdempotencyKey is accepted for
// uniformity with the other saga calls but not needed.
type ReservationRef struct {
	ReservationID  string
	IdempotencyKey string
}

func (s *service) ReserveInventory(ctx context.Context, r ReserveRequest) (Reservation, error) {
	var v errs.Validation
	id := checkID(&v, "reservation_id", r.ReservationID)
	v.Check(len(r.Items) > 0, "items", "at least one item")
	v.Check(len(r.Items) <= MaxReservationItems, "items", fmt.Sprintf("at most %d items", MaxReservationItems))
	v.Check(r.TTL >= 0 && r.TTL <= MaxTTL, "ttl", fmt.Sprintf("must be between 0 and %s", MaxTTL))
	checkLen(&v, "idempotency_key", r.IdempotencyKey, maxKeyLen)
	merged := map[string]int64{}
	for i, it := range r.Items {
		pid := checkID(&v, fmt.Sprintf("items[%d].product_id", i), it.ProductID)
		v.Check(it.Quantity > 0 && it.Quantity <= MaxQuantity, fmt.Sprintf("items[%d].quantity", i),
			fmt.Sprintf("must be between 1 and %d", MaxQuantity))
		if pid != "" && it.Quantity > 0 && it.Quantity <= MaxQuantity {
			merged[pid] += it.Quantity
		}
	}
	if err := v.Err(); err != nil {
		return Reservation{}, err
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = s.opts.DefaultTTL
	}
	key := r.IdempotencyKey
	if key == "" {
		key = id
	}
	now := s.now()
	want := Reservation{
		ID: id, IdempotencyKey: key, Status: ReservationReserved, Items: mergedItems(merged),
		ExpiresAt: now.Add(ttl), CreatedAt: now, UpdatedAt: now,
	}
	got, created, err := s.store.Reserve(ctx, want)
	if err != nil {
		return Reservation{}, err
	}
	if !created && (got.ID != want.ID || !slices.Equal(got.Items, want.Items)) {
		return Reservation{}, ErrIdempotencyKeyReused
	}
	return got, nil
}

// mergedItems turns per-product totals into items in product id order, the
// order the store takes row locks in so that two reservations over the
// same products can never deadlock.
func mergedItems(m map[string]int64) []ReservationItem {
	items := make([]ReservationItem, 0, len(m))
	for id, q := range m {
		items = append(items, ReservationItem{ProductID: id, Quantity: q})
	}
	slices.SortFunc(items, func(a, b ReservationItem) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return items
}

func (s *service) CommitReservation(ctx context.Context, r ReservationRef) (Reservation, error) {
	id, err := checkRef(r)
	if err != nil {
		return Reservation{}, err
	}
	now := s.now()
	return s.store.TransitionReservation(ctx, id, now, func(cur Reservation) (ReservationStatus, error) {
		switch cur.Status {
		case ReservationCommitted:
			return cur.Status, nil
		case ReservationReleased:
			return 0, ErrReservationReleased
		case ReservationExpired:
			return 0, ErrReservationExpired
		}
		if !now.Before(cur.ExpiresAt) {
			// Past its expiry the hold is void even if the reaper has not
			// run yet; otherwise the outcome would depend on reaper timing.
			return 0, ErrReservationExpired
		}
		return ReservationCommitted, nil
	})
}

func (s *service) ReleaseReservation(ctx context.Context, r ReservationRef) (Reservation, error) {
	id, err := checkRef(r)
	if err != nil {
		return Reservation{}, err
	}
	return s.store.TransitionReservation(ctx, id, s.now(), func(cur Reservation) (ReservationStatus, error) {
		switch cur.Status {
		case ReservationReleased, ReservationExpired:
			// The units are already back; a saga compensating after the
			// reaper did must not fail.
			return cur.Status, nil
		case ReservationCommitted:
			return 0, ErrReservationCommitted
		}
		return ReservationReleased, nil
	})
}

func checkRef(r ReservationRef) (string, error) {
	var v errs.Validation
	id := checkID(&v, "reservation_id", r.ReservationID)
	checkLen(&v, "idempotency_key", r.IdempotencyKey, maxKeyLen)
	return id, v.Err()
}

func (s *service) ReapExpired(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.ExpireReservations(ctx, s.now(), s.opts.ReapBatch)
		total += n
		if err != nil || n < s.opts.ReapBatch {
			return total, err
		}
	}
}

// insufficientStock is ErrInsufficientStock naming the product and what it
// could give, worded as in API.md's example.
func insufficientStock(productID string, available, requested int64) error {
	e := ErrInsufficientStock.
		With("product_id", productID).
		With("available", available).
		With("requested", requested)
	e.Message = fmt.Sprintf("product %s has %d available, %d requested", productID, available, requested)
	return e
}

// productError is a product-level sentinel naming the product.
func productError(sentinel *errs.Error, productID string) error {
	e := sentinel.With("product_id", productID)
	e.Message = fmt.Sprintf("%s: %s", sentinel.Message, productID)
	return e
}

// stockBelowReserved refuses on-hand stock lower than what is reserved
// (an import overwriting stock).
func stockBelowReserved(productID string, reserved, stock int64) error {
	e := ErrInsufficientStock.
		With("product_id", productID).
		With("reserved", reserved).
		With("requested_stock", stock)
	e.Message = fmt.Sprintf("product %s has %d reserved, stock cannot be set to %d", productID, reserved, stock)
	return e
}

// reaperJob runs ReapExpired every interval until ctx ends: the background
// job that makes sure a crashed checkout never holds stock for longer than
// its reservation's TTL plus one interval. A failed pass (the database
// blinked) is logged and retried at the next tick rather than ending the
// process.
func reaperJob(svc Service, every time.Duration, logger log.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			n, err := svc.ReapExpired(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				level.Warn(logger).Log("msg", "reaping expired reservations failed", "reaped", n, "err", err)
			case n > 0:
				level.Info(logger).Log("msg", "released expired reservations", "count", n)
			}
		}
	}
}
