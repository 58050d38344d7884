package main

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/saga"
)

// createOrderSQL writes a new order in one statement (so one
// transaction, without BEGIN and COMMIT round trips): the idempotency
// claim when $31, and, only if there is none or it was won, the order,
// its items (in request order), its checkout saga and its PENDING event.
//
// The claim takes a free key, or one whose record has expired (it is only
// waiting for the purge: the key is free again, as it would be a moment
// later), by overwriting that record. Two requests racing with one key:
// the second waits on the first one's uncommitted row and then, the
// record being live, writes nothing; the service then reads the winner's
// record (a new statement, which sees it committed). Had the first rolled
// back, the second inserts. Either way one order is created and the loser
// gets the winner's record, not an error.
//
// Foreign keys are checked at the end of the statement, when the order
// row exists. It returns whether the order was written.
const createOrderSQL = `WITH claim AS (
		INSERT INTO idempotency_keys AS k
			(user_id, key, fingerprint, order_id, complete, response, locked_until, expires_at, created_at)
		SELECT $32, $33, $34, $1, false, NULL, $35, $36, $14 WHERE $31::boolean
		ON CONFLICT (user_id, key) DO UPDATE
			SET fingerprint = EXCLUDED.fingerprint, order_id = EXCLUDED.order_id, complete = false,
				response = NULL, locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at,
				created_at = EXCLUDED.created_at
			WHERE k.expires_at <= EXCLUDED.created_at
		RETURNING 1
	), o AS (
		INSERT INTO orders (id, user_id, status, total_cents, currency,
			ship_line1, ship_line2, ship_city, ship_state, ship_postal_code, ship_country,
			payment_id, failure_reason, created_at, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
		WHERE NOT $31::boolean OR EXISTS (SELECT 1 FROM claim)
		RETURNING id, user_id
	), items AS (
		INSERT INTO order_items
			(order_id, line, product_id, sku, name, quantity, unit_price_cents, line_total_cents)
		SELECT o.id, t.ord - 1, t.p, t.s, t.n, t.q, t.u, t.l
		FROM o, unnest($16::uuid[], $17::text[], $18::text[], $19::bigint[], $20::bigint[], $21::bigint[])
			WITH ORDINALITY AS t(p, s, n, q, u, l, ord)
	), saga AS (
		INSERT INTO sagas (id, order_id, kind, definition, status, state,
			version, lease_owner, lease_expiry, created_at, updated_at)
		SELECT $22, o.id, 'checkout', $23, $24, $25, $26, $27, $28, $29, $30 FROM o
	), event AS (
		INSERT INTO outbox (order_id, user_id, status, reason, created_at)
		SELECT o.id, o.user_id, $3, $13, $14 FROM o
	)
	SELECT EXISTS (SELECT 1 FROM o)`

func (s *postgresStore) CreateOrder(ctx context.Context, o Order, st saga.State, idem *IdemClaim) (IdemRecord, bool, error) {
	doc, err := sagaDocument(st)
	if err != nil {
		return IdemRecord{}, false, err
	}
	// Without a claim its parameters still have to parse (uuid, text):
	// the order's own values stand in, and the claim writes nothing.
	claim := IdemClaim{UserID: o.UserID, Key: "-", LockedUntil: o.CreatedAt, ExpiresAt: o.CreatedAt}
	if idem != nil {
		claim = *idem
		var ok bool
		if claim.UserID, ok = canonID(idem.UserID); !ok {
			return IdemRecord{}, false, errs.Internalf(nil, "orders: idempotency claim for user %q, not a UUID", idem.UserID)
		}
	}
	n := len(o.Items)
	products, skus, names := make([]string, n), make([]string, n), make([]string, n)
	qty, unit, total := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, it := range o.Items {
		products[i], skus[i], names[i] = it.ProductID, it.SKU, it.Name
		qty[i], unit[i], total[i] = it.Quantity, it.UnitPriceCents, it.LineTotalCents
	}
	a := o.ShippingAddress
	ctx, cancel := bound(ctx)
	defer cancel()
	var created bool
	err = s.db.QueryRowContext(ctx, createOrderSQL,
		o.ID, o.UserID, o.Status, o.TotalCents, o.Currency,
		a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country,
		o.PaymentID, o.FailureReason, o.CreatedAt, o.UpdatedAt,
		pq.Array(products), pq.Array(skus), pq.Array(names), pq.Array(qty), pq.Array(unit), pq.Array(total),
		st.ID, st.Definition, st.Status, doc, st.Version, st.LeaseOwner, nullTime(st.LeaseExpiry), st.CreatedAt, st.UpdatedAt,
		idem != nil, claim.UserID, claim.Key, claim.Fingerprint, claim.LockedUntil, claim.ExpiresAt).Scan(&created)
	if err != nil {
		return IdemRecord{}, false, classify(err)
	}
	if created {
		return IdemRecord{}, true, nil
	}
	rec, err := loadIdem(ctx, s.db, claim.UserID, claim.Key)
	if errors.Is(err, errIdemNotFound) {
		// Purged in between: rare enough to hand back as a retryable
		// failure rather than loop here.
		return IdemRecord{}, false, errs.New(errs.Unavailable, errs.ReasonUnavailable,
			"orders: idempotency record changed concurrently, retry")
	}
	if err != nil {
		return IdemRecord{}, false, classify(err)
	}
	return rec, false, nil
}

// insertOutbox records a status change for the relay, in the caller's
// transaction.
func insertOutbox(ctx context.Context, tx *sql.Tx, orderID, userID string, status Status, reason string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO outbox (order_id, user_id, status, reason, created_at)
		VALUES ($1, $2, $3, $4, $5)`, orderID, userID, status, reason, at)
	return err
}

func (s *postgresStore) Order(ctx context.Context, id string) (Order, error) {
	id, ok := canonID(id)
	if !ok {
		return Order{}, ErrNotFound
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	o, err := loadOrder(ctx, s.db, id)
	if err != nil {
		return Order{}, classify(err)
	}
	return o, nil
}

func (s *postgresStore) Orders(ctx context.Context, userID string, after *OrderCursor, limit int) ([]Order, error) {
	userID, ok := canonID(userID)
	if !ok || limit <= 0 {
		return nil, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	// orders_user_created_idx serves both forms, in index order.
	query := `SELECT ` + orderColumns + ` FROM orders o WHERE o.user_id = $1
		ORDER BY o.created_at DESC, o.id DESC LIMIT $2`
	args := []any{userID, limit}
	if after != nil {
		query = `SELECT ` + orderColumns + ` FROM orders o WHERE o.user_id = $1
			AND (o.created_at, o.id) < ($3, $4::uuid)
			ORDER BY o.created_at DESC, o.id DESC LIMIT $2`
		cid, ok := canonID(after.ID)
		if !ok {
			return nil, errs.New(errs.InvalidArgument, errs.ReasonValidation, "orders: the page cursor's id is not a UUID")
		}
		args = append(args, after.CreatedAt, cid)
	}
	out, err := collect(ctx, s.db, scanOrder, query, args...)
	return out, classify(err)
}

func (s *postgresStore) AllOrders(ctx context.Context, afterID string, limit int) ([]Order, error) {
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	if afterID == "" {
		out, err := collect(ctx, s.db, scanOrder,
			`SELECT `+orderColumns+` FROM orders o ORDER BY o.id LIMIT $1`, limit)
		return out, classify(err)
	}
	afterID, ok := canonID(afterID)
	if !ok {
		return nil, errs.New(errs.InvalidArgument, errs.ReasonValidation, "orders: afterID is not a UUID")
	}
	out, err := collect(ctx, s.db, scanOrder,
		`SELECT `+orderColumns+` FROM orders o WHERE o.id > $1 ORDER BY o.id LIMIT $2`, afterID, limit)
	return out, classify(err)
}

// lockOrder takes order id's row lock for the transaction and returns its
// status and owner. Every change of an order goes through it (or through
// saveSagaAndOrderSQL, which does the same), so changes of one order are
// serialized and their outbox rows are written in the order they happen.
func lockOrder(ctx context.Context, tx *sql.Tx, id string) (status Status, userID string, err error) {
	err = tx.QueryRowContext(ctx, `SELECT status, user_id FROM orders WHERE id = $1 FOR UPDATE`, id).
		Scan(&status, &userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	return status, userID, err
}

// cancelSagaOf returns the id of order id's cancel saga, "" when none.
func cancelSagaOf(ctx context.Context, tx *sql.Tx, id string) (string, error) {
	var sagaID string
	err := tx.QueryRowContext(ctx, `SELECT id FROM sagas WHERE order_id = $1 AND kind = 'cancel'`, id).Scan(&sagaID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return sagaID, err
}

// invalidState is ErrInvalidOrderState carrying the order as it is.
func invalidState(ctx context.Context, tx *sql.Tx, id string) error {
	o, err := loadOrder(ctx, tx, id)
	if err != nil {
		return err
	}
	return failedWith(ErrInvalidOrderState, o)
}

func (s *postgresStore) Ship(ctx context.Context, id string, now time.Time) (Order, error) {
	id, ok := canonID(id)
	if !ok {
		return Order{}, ErrNotFound
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	var out Order
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		status, userID, err := lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		cancelID, err := cancelSagaOf(ctx, tx, id)
		if err != nil {
			return err
		}
		// A cancellation in progress owns the order: shipping now would
		// ship goods that are being refunded.
		if status != StatusConfirmed || cancelID != "" {
			return invalidState(ctx, tx, id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1`,
			id, StatusShipped, now); err != nil {
			return err
		}
		if err := insertOutbox(ctx, tx, id, userID, StatusShipped, "", now); err != nil {
			return err
		}
		out, err = loadOrder(ctx, tx, id)
		return err
	})
	if err != nil {
		return Order{}, classify(err)
	}
	return out, nil
}

func (s *postgresStore) StartCancel(ctx context.Context, id string, st saga.State) (string, bool, error) {
	id, ok := canonID(id)
	if !ok {
		return "", false, ErrNotFound
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	var (
		sagaID  string
		started bool
	)
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		sagaID, started = "", false
		status, _, err := lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		if sagaID, err = cancelSagaOf(ctx, tx, id); err != nil || sagaID != "" {
			return err
		}
		if status != StatusConfirmed {
			return invalidState(ctx, tx, id)
		}
		if err := insertSaga(ctx, tx, st, id, "cancel"); err != nil {
			return err
		}
		sagaID, started = st.ID, true
		return nil
	})
	if err != nil {
		return "", false, classify(err)
	}
	return sagaID, started, nil
}
