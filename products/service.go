package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
	"github.com/kitshop/kitshop/products/client"
)

// Service owns the catalog and the inventory. Every method is safe for
// concurrent use. Errors are *errs.Error values; the sentinels below name
// the reasons a caller can act on. Who may call what is decided before the
// Service: catalog writes are admin-only in endpoints.go and in the
// ImportProducts stream handler.
type Service interface {
	// CreateProduct adds a product with the given on-hand stock; it starts
	// active with nothing reserved. InvalidArgument on bad input,
	// ErrSKUTaken when another product has the SKU.
	CreateProduct(ctx context.Context, p NewProduct) (Product, error)
	// UpdateProduct changes only the fields that are set. Stock is not
	// among them: AdjustStock is the one way to change it.
	// ErrProductNotFound for an unknown id.
	UpdateProduct(ctx context.Context, u ProductUpdate) (Product, error)
	// GetProduct returns any product, active or not. ErrProductNotFound
	// for an unknown id, InvalidArgument for a malformed one.
	GetProduct(ctx context.Context, id string) (Product, error)
	// BatchGetProducts returns the products in request order (duplicates
	// collapsed) and lists the ids it does not know. At most MaxBatchIDs.
	BatchGetProducts(ctx context.Context, ids []string) (BatchResult, error)
	// SearchProducts lists active products matching the query and filters,
	// most relevant first when there is a query, else by name. Pages are
	// keyset pages: rows inserted between calls never cause a row that
	// existed to be repeated or skipped. ErrInvalidPageToken when the
	// token is malformed or was issued for different filters.
	SearchProducts(ctx context.Context, r SearchRequest) (SearchPage, error)
	// AdjustStock adds delta (may be negative) to on-hand stock.
	// ErrInsufficientStock when stock would drop below what is reserved.
	// With an idempotency key, a repeat changes nothing more and returns
	// the product as it is now, marked Replayed; the same key for another
	// product or delta is ErrIdempotencyKeyReused.
	AdjustStock(ctx context.Context, a StockAdjustment) (StockResult, error)

	// ReserveInventory holds every item or none and records each item's
	// unit price and currency as they are at that moment. See
	// ReserveRequest for the idempotency rules. ErrInsufficientStock (Meta
	// product_id, available, requested), ErrProductNotFound or
	// ErrProductInactive (Meta product_id) when an item cannot be held;
	// ErrReservationReleased when the id or key names a reservation that
	// was released before it was made.
	ReserveInventory(ctx context.Context, r ReserveRequest) (Reservation, error)
	// CommitReservation turns reserved units into sold units: stock and
	// reserved both drop. Committing a committed reservation returns it
	// unchanged; a released one is ErrReservationReleased. Past its expiry
	// it still succeeds while the units are there: a RESERVED reservation
	// the reaper has not reached still holds them, and an EXPIRED one takes
	// them again, atomically, if every item still has that many available;
	// otherwise ErrReservationExpired (Meta product_id, available,
	// requested) and nothing changes. ErrReservationNotFound for an
	// unknown reservation.
	CommitReservation(ctx context.Context, r ReservationRef) (Reservation, error)
	// ReleaseReservation gives reserved units back. Releasing a released
	// or expired reservation returns it unchanged (the units are already
	// back); a committed one is ErrReservationCommitted. One that was never
	// made is not an error either: it is recorded as released, with no
	// items, so that a late ReserveInventory for it holds nothing.
	ReleaseReservation(ctx context.Context, r ReservationRef) (Reservation, error)
	// RestockItems adds each item's quantity to its product's on-hand
	// stock, all or nothing: the units of a cancelled order coming back.
	// The idempotency key is required: a repeat changes nothing more and
	// returns the products as they are now, marked Replayed; the same key
	// with other items (after merging) is ErrIdempotencyKeyReused.
	// ErrProductNotFound (Meta product_id) for an unknown product.
	RestockItems(ctx context.Context, r RestockRequest) (RestockResult, error)
	// GetReservation returns the reservation r names (by ReservationID or
	// ReservationKey, exactly one) as it is now, and changes nothing: the
	// orders consistency checker's view of a checkout's stock.
	// ErrReservationNotFound when there is none. r.IdempotencyKey plays
	// no part (a read needs none) beyond being validated.
	GetReservation(ctx context.Context, r ReservationRef) (Reservation, error)

	// ListProducts calls emit with the whole catalog (active or not) in id
	// order, batchSize products at a time (0 means DefaultListBatch; more
	// than MaxListBatch is lowered to it), reading one batch at a time so
	// memory stays flat however big the catalog is. It stops at the first
	// error from emit or ctx.
	ListProducts(ctx context.Context, batchSize int, emit func([]Product) error) error
	// ImportProducts upserts rows by SKU until next returns io.EOF. A bad
	// row is counted and reported (at most MaxImportErrors are listed),
	// never fatal; any other error from next aborts the import and is
	// returned along with what was done so far.
	ImportProducts(ctx context.Context, next func() (ImportRow, error)) (ImportResult, error)
	// WatchStock opens a stock watch (see StockWatch). The caller must
	// Close it. ErrTooManyWatchers when Options.MaxWatchers are open.
	WatchStock(ctx context.Context) (*StockWatch, error)

	// ReapExpired releases reservations that outlived their expiry (status
	// EXPIRED) and reports how many. Safe to run on several instances at
	// once: each reservation is reaped by exactly one.
	ReapExpired(ctx context.Context) (int, error)
	// RunStockFeed delivers committed stock changes from the store to the
	// watchers until ctx ends. Run it as a background job; without it
	// watchers only see the levels pushed on subscribe.
	RunStockFeed(ctx context.Context) error
}

// Domain errors. errors.Is matches on kind and reason, so returned values
// may carry metadata and still match these. Reasons come from
// products/client, which callers compare against.
var (
	ErrProductNotFound      = errs.New(errs.NotFound, client.ReasonProductNotFound, "product not found")
	ErrSKUTaken             = errs.New(errs.AlreadyExists, client.ReasonSKUTaken, "a product with this SKU already exists")
	ErrProductInactive      = errs.New(errs.FailedPrecondition, client.ReasonProductInactive, "product is not for sale")
	ErrInsufficientStock    = errs.New(errs.FailedPrecondition, client.ReasonInsufficientStock, "insufficient stock")
	ErrInvalidPageToken     = page.ErrInvalidToken
	ErrReservationNotFound  = errs.New(errs.NotFound, client.ReasonReservationNotFound, "reservation not found")
	ErrReservationReleased  = errs.New(errs.FailedPrecondition, client.ReasonReservationReleased, "reservation was released")
	ErrReservationCommitted = errs.New(errs.FailedPrecondition, client.ReasonReservationCommitted, "reservation was committed")
	ErrReservationExpired   = errs.New(errs.FailedPrecondition, client.ReasonReservationExpired, "reservation expired")
	ErrIdempotencyKeyReused = errs.ErrIdempotencyKeyReused
	// ErrSlowConsumer cuts off a stock watcher that does not keep up.
	ErrSlowConsumer = errs.New(errs.ResourceExhausted, client.ReasonSlowConsumer, "stock watcher fell too far behind")
	// ErrTooManyWatchers refuses a stock watch beyond Options.MaxWatchers.
	// The instance is healthy, so it is Expected: a client watches again
	// elsewhere without counting it against this instance.
	ErrTooManyWatchers = errs.New(errs.ResourceExhausted, client.ReasonTooManyWatchers,
		"this instance serves as many stock watches as it allows; watch again later").AsExpected()
	// ErrTooManySubscriptions refuses a subscription that would make one
	// watch follow more than Options.MaxWatchedProducts products.
	ErrTooManySubscriptions = errs.New(errs.ResourceExhausted, client.ReasonTooManySubscriptions,
		"too many products in one stock watch")
)

// Limits on input, chosen so sums of quantities can never overflow int64.
// Prices are bounded by kit/valid.MaxAmountCents, as every amount is.
const (
	MaxBatchIDs         = 100
	MaxReservationItems = 100
	MaxQuantity         = 1_000_000
	MaxStock            = 1_000_000_000
	MaxImportErrors     = 1000
	DefaultListBatch    = 500
	MaxListBatch        = 1000
	DefaultTTL          = 15 * time.Minute
	MaxTTL              = 24 * time.Hour
	// DefaultMaxWatchers and DefaultMaxWatchedProducts bound what stock
	// watches may hold: about 64 KiB of queue per watch, and a map entry
	// per watched product.
	DefaultMaxWatchers        = 1000
	DefaultMaxWatchedProducts = 1000
)

// Product is a catalog entry with its inventory.
type Product struct {
	ID          string
	SKU         string
	Name        string
	Description string
	Category    string
	PriceCents  int64
	Currency    string
	// Stock is on hand; Reserved is held by open reservations.
	Stock    int64
	Reserved int64
	Active   bool
	// Version grows with every change to the row. Stock watchers use it
	// to drop a level older than one already sent.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Available is what can still be reserved; never negative.
func (p Product) Available() int64 { return max(p.Stock-p.Reserved, 0) }

// Level is p's current stock level.
func (p Product) Level() StockLevel {
	return StockLevel{ProductID: p.ID, Stock: p.Stock, Reserved: p.Reserved, Version: p.Version, At: p.UpdatedAt}
}

// NewProduct is the input of CreateProduct.
type NewProduct struct {
	SKU         string
	Name        string
	Description string
	Category    string
	PriceCents  int64
	Currency    string
	Stock       int64
}

// ProductUpdate names a product and the fields to change; nil means keep.
type ProductUpdate struct {
	ID          string
	Name        *string
	Description *string
	Category    *string
	PriceCents  *int64
	Active      *bool
}

// StockAdjustment is the input of AdjustStock. IdempotencyKey is optional.
type StockAdjustment struct {
	ProductID      string
	Delta          int64
	IdempotencyKey string
}

// StockResult is the answer of AdjustStock: the product as it is now, and
// whether the request repeated an adjustment already applied.
type StockResult struct {
	Product  Product
	Replayed bool
}

// BatchResult is the answer of BatchGetProducts.
type BatchResult struct {
	Products   []Product
	MissingIDs []string
}

// SearchRequest is the input of SearchProducts. Query is full text (empty
// means every product matching the filters); the price bounds are inclusive.
type SearchRequest struct {
	Query         string
	Category      string
	MinPriceCents *int64
	MaxPriceCents *int64
	// PageSize 0 means page.DefaultSize; larger than page.MaxSize means
	// page.MaxSize.
	PageSize  int
	PageToken string
}

// SearchPage is one page of search results. TotalSize counts every match
// of the query and filters, not just what is left after this page.
type SearchPage struct {
	Products      []Product
	NextPageToken string
	TotalSize     int64
}

// ImportRow is one product of an import, matched to an existing product by
// SKU. An update overwrites every field, stock included.
type ImportRow struct {
	SKU         string
	Name        string
	Description string
	Category    string
	PriceCents  int64
	Currency    string
	Stock       int64
	Active      bool
}

// ImportError reports one rejected row: Row is its zero-based position in
// the stream, Code a stable reason (as in ErrorInfo).
type ImportError struct {
	Row     int64
	SKU     string
	Code    string
	Message string
}

// ImportResult counts what an import did.
type ImportResult struct {
	Created int64
	Updated int64
	Failed  int64
	Errors  []ImportError
}

// StockLevel is a product's inventory at one moment.
type StockLevel struct {
	ProductID string
	Stock     int64
	Reserved  int64
	// Version is the product row's version; a higher one is newer.
	Version int64
	At      time.Time
}

// Available is Stock - Reserved, never negative.
func (l StockLevel) Available() int64 { return max(l.Stock-l.Reserved, 0) }

// Options tunes the service. Zero values take the defaults.
type Options struct {
	// DefaultTTL is a reservation's lifetime when the request names none.
	DefaultTTL time.Duration
	// ReapBatch is how many expired reservations one reaper transaction
	// handles; small batches keep row locks short.
	ReapBatch int
	// WatchBuffer is how many undelivered levels a stock watcher may queue
	// before it is cut off with ErrSlowConsumer.
	WatchBuffer int
	// MaxWatchers bounds the stock watches open at once in this process
	// (DefaultMaxWatchers); beyond it WatchStock is ErrTooManyWatchers.
	MaxWatchers int
	// MaxWatchedProducts bounds the products one watch follows
	// (DefaultMaxWatchedProducts); beyond it ErrTooManySubscriptions.
	MaxWatchedProducts int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logger reports background failures; default discards.
	Logger log.Logger
	// Metrics registers the domain metrics (service_metrics.go); nil
	// registers nothing.
	Metrics prometheus.Registerer
}

func (o Options) withDefaults() Options {
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = DefaultTTL
	}
	if o.ReapBatch <= 0 {
		o.ReapBatch = 100
	}
	if o.WatchBuffer <= 0 {
		// Room for a burst (an import touching many watched products)
		// while staying small: about 64 KiB per watch.
		o.WatchBuffer = 1024
	}
	if o.MaxWatchers <= 0 {
		o.MaxWatchers = DefaultMaxWatchers
	}
	if o.MaxWatchedProducts <= 0 {
		o.MaxWatchedProducts = DefaultMaxWatchedProducts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	return o
}

type service struct {
	store  Store
	opts   Options
	broker *stockBroker
	// watchers counts open stock watches (Options.MaxWatchers).
	watchers atomic.Int64
	metrics  *inventoryMetrics
}

// NewService returns the Service over store.
func NewService(store Store, opts Options) Service { return newService(store, opts) }

func newService(store Store, opts Options) *service {
	opts = opts.withDefaults()
	s := &service{store: store, opts: opts}
	s.broker = newStockBroker(opts.WatchBuffer, opts.Logger)
	s.metrics = newInventoryMetrics(opts.Metrics, s)
	return s
}

// now is the service clock at the precision Postgres keeps, so a value
// read back from either store equals the one written.
func (s *service) now() time.Time {
	return s.opts.Now().UTC().Truncate(time.Microsecond)
}
