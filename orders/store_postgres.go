package main

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/valid"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// postgresStore is the Store on Postgres (schema "orders", migrations
// above, applied by kit/boot.OpenStore). Every multi-statement write is one
// transaction through pg.InTx; exclusivity comes from row locks taken by
// the writing transaction (the order row for order changes, the consumer
// row for consumers) and a transaction-scoped advisory lock for the relay,
// and the unique indexes hold the invariants even if a lock were missed.
type postgresStore struct {
	db     *sql.DB
	notify *pgNotifier
}

// newPostgresStore returns the store on db, a pool on the migrated orders
// schema. WaitEvents polls until withListener gives it a connection string
// for LISTEN.
func newPostgresStore(db *sql.DB) *postgresStore {
	return &postgresStore{db: db, notify: newPGNotifier()}
}

// withListener makes WaitEvents wake on NOTIFY orders_events from any
// instance, through a pq.Listener on dsn (the connection string db was
// opened with; database/sql cannot hand out a connection for LISTEN). The
// listener connects on the first WaitEvents.
func (s *postgresStore) withListener(dsn string) *postgresStore {
	s.notify.setDSN(dsn)
	return s
}

// Close stops the listener and closes the pool.
func (s *postgresStore) Close() error {
	s.notify.close()
	return s.db.Close()
}

// opTimeout bounds a store call, whatever its context allows: background
// jobs run on the service's context, which has no deadline, and a watch's
// runs for up to an hour, so a blocked lock or a frozen server would
// otherwise hold a goroutine and a connection that long. A shorter
// deadline of the caller's still wins.
const opTimeout = 30 * time.Second

func bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, opTimeout)
}

// errDuplicateItem: an order must list each product once, since price
// changes are matched to items by product id. The service rejects such
// requests first; this keeps the rule in both stores.
var errDuplicateItem = errs.New(errs.InvalidArgument, errs.ReasonValidation, "an order lists a product more than once")

// classify maps what the constraints caught to domain errors, and the
// rest through kit/pg (Unavailable, DeadlineExceeded, Internal; the
// store's own sentinels and context errors pass as they are).
func classify(err error) error {
	if err == nil {
		return nil
	}
	if c, ok := pg.IsUniqueViolation(err); ok && c == "order_items_one_line_per_product" {
		return errDuplicateItem
	}
	return pg.Classify(err)
}

// orderColumns reads an order with its items in one statement, so the
// items and the total always come from the same snapshot.
const orderColumns = `o.id, o.user_id, o.status, o.total_cents, o.currency,
	o.ship_line1, o.ship_line2, o.ship_city, o.ship_state, o.ship_postal_code, o.ship_country,
	o.payment_id, o.failure_reason, o.created_at, o.updated_at,
	COALESCE((SELECT json_agg(json_build_object('p', i.product_id, 's', i.sku, 'n', i.name,
		'q', i.quantity, 'u', i.unit_price_cents, 't', i.line_total_cents) ORDER BY i.line)
		FROM order_items i WHERE i.order_id = o.id), '[]')`

type itemJSON struct {
	ProductID string `json:"p"`
	SKU       string `json:"s"`
	Name      string `json:"n"`
	Quantity  int64  `json:"q"`
	Unit      int64  `json:"u"`
	Total     int64  `json:"t"`
}

func scanOrder(r pg.Scanner) (Order, error) {
	var (
		o     Order
		items []byte
	)
	a := &o.ShippingAddress
	if err := r.Scan(&o.ID, &o.UserID, &o.Status, &o.TotalCents, &o.Currency,
		&a.Line1, &a.Line2, &a.City, &a.State, &a.PostalCode, &a.Country,
		&o.PaymentID, &o.FailureReason, &o.CreatedAt, &o.UpdatedAt, &items); err != nil {
		return Order{}, err
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	var lines []itemJSON
	if err := json.Unmarshal(items, &lines); err != nil {
		return Order{}, errs.Internalf(err, "orders: items of order %s", o.ID)
	}
	o.Items = make([]Item, len(lines))
	for i, l := range lines {
		o.Items[i] = Item{ProductID: l.ProductID, SKU: l.SKU, Name: l.Name, Quantity: l.Quantity,
			UnitPriceCents: l.Unit, LineTotalCents: l.Total}
	}
	return o, nil
}

// queryer is what both *sql.DB and *sql.Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func loadOrder(ctx context.Context, q queryer, id string) (Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders o WHERE o.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	return o, err
}

// collect runs query on q and reads every row with scan (pg.Collect).
func collect[T any](ctx context.Context, q queryer, scan func(pg.Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	return pg.Collect(rows, err, scan)
}

// canonID returns id in the spelling Postgres gives uuids back in, or
// false when it is not a UUID at all: such an id names nothing, and asking
// Postgres would fail the cast instead of answering "not found".
func canonID(id string) (string, bool) {
	if !valid.IsID(id) {
		return "", false
	}
	return strings.ToLower(id), true
}

var _ Store = (*postgresStore)(nil)
