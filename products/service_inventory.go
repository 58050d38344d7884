package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/valid"
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

// StockItem is a quantity of one product, as a request names it.
type StockItem struct {
	ProductID string
	Quantity  int64
}

// ReservationItem is a quantity of one product held by a reservation, with
// the product's unit price and currency at the moment it was reserved: the
// order copies its prices from here, so a later price change never alters
// what the customer was charged.
type ReservationItem struct {
	ProductID      string
	Quantity       int64
	UnitPriceCents int64
	Currency       string
}

// Reservation holds units of products for a checkout. Items are sorted by
// product id, one entry per product. A reservation released before it was
// made (see ReleaseReservation) has status RELEASED and no items.
type Reservation struct {
	ID             string
	IdempotencyKey string
	Status         ReservationStatus
	Items          []ReservationItem
	ExpiresAt      time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// releasedUnmade reports a reservation recorded by a release that found
// nothing to release: every real reservation holds at least one item.
func (r Reservation) releasedUnmade() bool {
	return r.Status == ReservationReleased && len(r.Items) == 0
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
	Items         []StockItem
	// TTL 0 means Options.DefaultTTL; at most MaxTTL.
	TTL            time.Duration
	IdempotencyKey string
}

// ReservationRef names a reservation to commit or release: by
// ReservationID, or by ReservationKey, the IdempotencyKey its
// ReserveInventory call used (exactly one of the two). Both calls are
// idempotent by the reservation's state, so IdempotencyKey, the call's own
// key, is accepted for uniformity with the other saga calls but not needed.
type ReservationRef struct {
	ReservationID  string
	ReservationKey string
	IdempotencyKey string
}

// RestockRequest is the input of RestockItems. IdempotencyKey is required:
// a restock without one could not be repeated safely.
type RestockRequest struct {
	IdempotencyKey string
	Items          []StockItem
}

// RestockResult is the answer of RestockItems: the products in product id
// order as they are now, and whether the request repeated a restock
// already applied.
type RestockResult struct {
	Products []Product
	Replayed bool
}

func (s *service) ReserveInventory(ctx context.Context, r ReserveRequest) (Reservation, error) {
	var v errs.Validation
	id := valid.ID(&v, "reservation_id", r.ReservationID)
	v.Check(r.TTL >= 0 && r.TTL <= MaxTTL, "ttl", fmt.Sprintf("must be between 0 and %s", MaxTTL))
	valid.OptionalIdempotencyKey(&v, "idempotency_key", r.IdempotencyKey)
	items := checkItems(&v, r.Items)
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
		ID: id, IdempotencyKey: key, Status: ReservationReserved, Items: make([]ReservationItem, len(items)),
		ExpiresAt: now.Add(ttl), CreatedAt: now, UpdatedAt: now,
	}
	for i, it := range items {
		want.Items[i] = ReservationItem{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	got, created, err := s.store.Reserve(ctx, want)
	switch {
	case err != nil:
		return Reservation{}, err
	case created:
		return got, nil
	case got.releasedUnmade():
		// The saga compensated for this reservation before it arrived
		// (a timed-out call delivered late): holding stock now would
		// leak it until the ttl.
		e := *ErrReservationReleased
		e.Message = "reservation was released before it was made"
		return Reservation{}, &e
	case got.ID != want.ID || !sameQuantities(got.Items, items):
		return Reservation{}, ErrIdempotencyKeyReused
	}
	return got, nil
}

// checkItems validates the items of a reservation or restock and returns
// them merged, one per product, in product id order: the order the stores
// take row locks in, so that two requests over the same products can never
// deadlock.
func checkItems(v *errs.Validation, items []StockItem) []StockItem {
	v.Check(len(items) > 0, "items", "at least one item")
	v.Check(len(items) <= MaxReservationItems, "items", fmt.Sprintf("at most %d items", MaxReservationItems))
	merged := map[string]int64{}
	for i, it := range items {
		pid := valid.ID(v, fmt.Sprintf("items[%d].product_id", i), it.ProductID)
		ok := it.Quantity > 0 && it.Quantity <= MaxQuantity
		v.Check(ok, fmt.Sprintf("items[%d].quantity", i), fmt.Sprintf("must be between 1 and %d", MaxQuantity))
		if pid != "" && ok {
			merged[pid] += it.Quantity
		}
	}
	return mergedItems(merged)
}

// mergedItems turns per-product totals into items in product id order.
func mergedItems(m map[string]int64) []StockItem {
	items := make([]StockItem, 0, len(m))
	for id, q := range m {
		items = append(items, StockItem{ProductID: id, Quantity: q})
	}
	slices.SortFunc(items, func(a, b StockItem) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return items
}

// sameQuantities reports whether a reservation holds exactly items (both
// in product id order); prices are the store's, not the request's.
func sameQuantities(held []ReservationItem, items []StockItem) bool {
	return slices.EqualFunc(held, items, func(h ReservationItem, it StockItem) bool {
		return h.ProductID == it.ProductID && h.Quantity == it.Quantity
	})
}

func (s *service) CommitReservation(ctx context.Context, r ReservationRef) (Reservation, error) {
	ref, err := checkRef(r)
	if err != nil {
		return Reservation{}, err
	}
	return s.store.TransitionReservation(ctx, ref, s.now(), func(cur Reservation) (ReservationStatus, error) {
		if cur.Status == ReservationReleased {
			return 0, ErrReservationReleased
		}
		// COMMITTED stays as it is. RESERVED, even past its expiry, still
		// holds its units. EXPIRED asks the store to take them again,
		// which it does only if they are all available: a customer who
		// paid a little late still gets the goods when nobody else
		// bought them meanwhile, and stock is never oversold.
		return ReservationCommitted, nil
	})
}

func (s *service) ReleaseReservation(ctx context.Context, r ReservationRef) (Reservation, error) {
	ref, err := checkRef(r)
	if err != nil {
		return Reservation{}, err
	}
	now := s.now()
	release := func(cur Reservation) (ReservationStatus, error) {
		switch cur.Status {
		case ReservationReleased, ReservationExpired:
			// The units are already back; a saga compensating after the
			// reaper did must not fail.
			return cur.Status, nil
		case ReservationCommitted:
			return 0, ErrReservationCommitted
		}
		return ReservationReleased, nil
	}
	got, err := s.store.TransitionReservation(ctx, ref, now, release)
	if !errors.Is(err, ErrReservationNotFound) {
		return got, err
	}
	// Nothing to release: the ReserveInventory call never arrived, or has
	// not arrived yet. Record the reservation as released, so that a late
	// arrival finds it and holds nothing.
	unmade := Reservation{ID: ref.ID, IdempotencyKey: ref.Key, Status: ReservationReleased,
		ExpiresAt: now, CreatedAt: now, UpdatedAt: now}
	if unmade.ID == "" {
		unmade.ID = uuid.NewString()
	}
	if unmade.IdempotencyKey == "" {
		unmade.IdempotencyKey = unmade.ID // the default key of a reservation
	}
	got, created, err := s.store.Reserve(ctx, unmade)
	if err != nil || created {
		return got, err
	}
	// The reservation arrived between the two calls: release it now.
	return s.store.TransitionReservation(ctx, ref, now, release)
}

func (s *service) GetReservation(ctx context.Context, r ReservationRef) (Reservation, error) {
	ref, err := checkRef(r)
	if err != nil {
		return Reservation{}, err
	}
	return s.store.GetReservation(ctx, ref)
}

// checkRef validates r and returns what the store looks the reservation up
// by.
func checkRef(r ReservationRef) (ReservationLookup, error) {
	var v errs.Validation
	var ref ReservationLookup
	switch {
	case r.ReservationID != "" && r.ReservationKey != "":
		v.Add("reservation_idempotency_key", "give reservation_id or reservation_idempotency_key, not both")
	case r.ReservationKey != "":
		valid.IdempotencyKey(&v, "reservation_idempotency_key", r.ReservationKey)
		ref.Key = r.ReservationKey
	default:
		ref.ID = valid.ID(&v, "reservation_id", r.ReservationID)
	}
	valid.OptionalIdempotencyKey(&v, "idempotency_key", r.IdempotencyKey)
	return ref, v.Err()
}

func (s *service) RestockItems(ctx context.Context, r RestockRequest) (RestockResult, error) {
	var v errs.Validation
	valid.IdempotencyKey(&v, "idempotency_key", r.IdempotencyKey)
	items := checkItems(&v, r.Items)
	if err := v.Err(); err != nil {
		return RestockResult{}, err
	}
	products, prior, err := s.store.Restock(ctx, Restock{IdempotencyKey: r.IdempotencyKey, Items: items}, s.now())
	switch {
	case err != nil:
		return RestockResult{}, err
	case prior != nil && !slices.Equal(prior.Items, items):
		return RestockResult{}, ErrIdempotencyKeyReused
	}
	return RestockResult{Products: products, Replayed: prior != nil}, nil
}

func (s *service) ReapExpired(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.ExpireReservations(ctx, s.now(), s.opts.ReapBatch)
		total += n
		s.metrics.expired.Add(float64(n))
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

// reservationExpired is ErrReservationExpired naming the first item an
// expired reservation could not take again.
func reservationExpired(productID string, available, requested int64) error {
	e := ErrReservationExpired.
		With("product_id", productID).
		With("available", available).
		With("requested", requested)
	e.Message = fmt.Sprintf("reservation expired and product %s has %d available, %d needed", productID, available, requested)
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
