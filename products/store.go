package main

import (
	"context"
	"time"
)

// Store is the persistence the service needs. Both implementations keep the
// same semantics, atomicity included; store_test.go holds the contract
// suite both pass. Ids are canonical UUID strings; the service validates
// input before it gets here. Errors other than the ones named are
// infrastructure failures.
type Store interface {
	// CreateProduct inserts p as given. ErrSKUTaken if the SKU exists.
	CreateProduct(ctx context.Context, p Product) (Product, error)
	// UpdateProduct sets the non-nil fields of u, bumps the version and
	// sets updated_at to now. ErrProductNotFound.
	UpdateProduct(ctx context.Context, u ProductUpdate, now time.Time) (Product, error)
	// GetProduct returns one product. ErrProductNotFound.
	GetProduct(ctx context.Context, id string) (Product, error)
	// GetProducts returns the products among ids that exist, in any order.
	GetProducts(ctx context.Context, ids []string) ([]Product, error)
	// SearchProducts returns up to q.Limit active products matching q,
	// after q.After in q's order, plus the total number of matches and,
	// when more rows follow, the cursor of the last one returned.
	SearchProducts(ctx context.Context, q SearchQuery) (SearchResult, error)
	// ListProducts returns up to limit products with id > afterID ("" =
	// from the start), in id order, active or not.
	ListProducts(ctx context.Context, afterID string, limit int) ([]Product, error)
	// UpsertProduct inserts p, or when its SKU exists overwrites that
	// product's catalog fields and on-hand stock (keeping its id, reserved
	// and created_at). It reports whether it inserted. ErrInsufficientStock
	// (Meta product_id, reserved, requested_stock) if the new stock would
	// be below what the existing product has reserved; nothing changes then.
	UpsertProduct(ctx context.Context, p Product) (Product, bool, error)
	// AdjustStock adds a.Delta to the product's on-hand stock.
	// ErrProductNotFound; ErrInsufficientStock (Meta product_id, available,
	// requested = -delta) if stock would drop below reserved. With a key
	// that was recorded before, nothing changes: it returns the recorded
	// adjustment as prior and that adjustment's product as it is now.
	AdjustStock(ctx context.Context, a StockAdjustment, now time.Time) (p Product, prior *StockAdjustment, err error)

	// Reserve stores r (items sorted by product id, no duplicates) and
	// holds its units, in one atomic step: every item or none. It sets each
	// item's UnitPriceCents and Currency from its product, read under the
	// same lock. r's status is RESERVED, or RELEASED with no items for a
	// reservation released before it was made, which holds nothing. If a
	// reservation with r.ID or r.IdempotencyKey already exists it changes
	// nothing and returns that one with created=false. Items are checked in
	// product id order and the first failure is returned:
	// ErrProductNotFound or ErrProductInactive (Meta product_id), or
	// ErrInsufficientStock (Meta product_id, available, requested).
	Reserve(ctx context.Context, r Reservation) (res Reservation, created bool, err error)
	// TransitionReservation locks the reservation ref names, calls decide
	// with its current state and applies the status decide returns, with
	// its effect on stock, atomically with the lock:
	//   RESERVED -> COMMITTED: stock and reserved drop by each quantity;
	//   RESERVED -> RELEASED or EXPIRED: reserved drops;
	//   EXPIRED -> COMMITTED: the units are taken again: stock drops by
	//   each quantity, provided every product still has that many
	//   available (stock - reserved); otherwise ErrReservationExpired
	//   (Meta product_id, available, requested) for the first product in
	//   id order that has not, and nothing changes.
	// Returning the current status changes nothing; an error from decide
	// is returned as is and nothing changes. Any other transition is
	// Internal. ErrReservationNotFound when ref names nothing.
	TransitionReservation(ctx context.Context, ref ReservationLookup, now time.Time,
		decide func(Reservation) (ReservationStatus, error)) (Reservation, error)
	// GetReservation returns the reservation ref names as it is now, items
	// included. ErrReservationNotFound when ref names nothing.
	GetReservation(ctx context.Context, ref ReservationLookup) (Reservation, error)
	// ExpireReservations moves up to limit RESERVED reservations whose
	// expiry is at or before now to EXPIRED, giving their units back, and
	// reports how many. Reservations another caller holds locked are
	// skipped, so concurrent reapers never wait on or double-release one.
	ExpireReservations(ctx context.Context, now time.Time, limit int) (int, error)
	// HeldReservations counts the RESERVED reservations whose expiry is
	// after now: those holding units (kitshop_products_reservations_held).
	HeldReservations(ctx context.Context, now time.Time) (int, error)

	// Restock adds each item's quantity to its product's on-hand stock, all
	// or nothing, and records r under its key; it returns the products in
	// item order. ErrProductNotFound (Meta product_id) for the first
	// unknown product. If r's key was recorded before, nothing changes: it
	// returns the recorded restock as prior and its products as they are
	// now.
	Restock(ctx context.Context, r Restock, now time.Time) (products []Product, prior *Restock, err error)

	// WatchStock delivers every committed change of a product's stock or
	// reserved count to sink, in commit order per product, until ctx ends;
	// then it returns nil. For a store shared by several instances this
	// includes the other instances' changes. It returns early only if the
	// feed cannot be set up at all.
	WatchStock(ctx context.Context, sink StockSink) error
	// Check reports whether the store is usable (readiness).
	Check(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// StockSink receives committed stock changes from a Store.
type StockSink interface {
	// Publish delivers one change. It must not block: a store may call it
	// while holding its own locks, to keep per-product order.
	Publish(StockLevel)
	// Resync says changes may have been lost (a dropped connection);
	// whoever cares must re-read the levels it shows. It must not block.
	Resync()
}

// ReservationLookup names a reservation by ID or, when ID is "", by Key,
// the idempotency key it was made with.
type ReservationLookup struct {
	ID  string
	Key string
}

// Restock is a recorded RestockItems: items merged and sorted by product id.
type Restock struct {
	IdempotencyKey string
	Items          []StockItem
}

// SearchQuery is a validated, normalised search. Text "" means no
// full-text condition; then results are in (name, id) order, else in
// (rank desc, id) order.
type SearchQuery struct {
	Text          string
	Category      string
	MinPriceCents *int64
	MaxPriceCents *int64
	Limit         int
	After         *SearchCursor
}

// SearchCursor is the sort key of a row: Rank for text searches, Name
// otherwise, and ID to break ties. Names compare byte-wise (COLLATE "C").
type SearchCursor struct {
	Rank float32
	Name string
	ID   string
}

// SearchResult is one page from the store. Next is nil on the last page.
type SearchResult struct {
	Products []Product
	Next     *SearchCursor
	Total    int64
}
