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

func (s *postgresStore) CreateOrder(ctx context.Context, o Order, st saga.State, idem *IdemClaim) (IdemRecord, bool, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var (
		existing IdemRecord
		created  bool
	)
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		existing, created = IdemRecord{}, false
		if idem != nil {
			rec, claimed, err := claimIdem(ctx, tx, o, idem)
			if err != nil || !claimed {
				existing = rec
				return err
			}
		}
		if err := insertOrder(ctx, tx, o); err != nil {
			return err
		}
		if err := insertSaga(ctx, tx, st, o.ID, "checkout"); err != nil {
			return err
		}
		if err := insertOutbox(ctx, tx, o.ID, o.UserID, o.Status, o.FailureReason, o.CreatedAt); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return IdemRecord{}, false, classify(err)
	}
	return existing, created, nil
}

func insertOrder(ctx context.Context, tx *sql.Tx, o Order) error {
	a := o.ShippingAddress
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, user_id, status, total_cents, currency,
		ship_line1, ship_line2, ship_city, ship_state, ship_postal_code, ship_country,
		payment_id, failure_reason, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		o.ID, o.UserID, o.Status, o.TotalCents, o.Currency,
		a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country,
		o.PaymentID, o.FailureReason, o.CreatedAt, o.UpdatedAt); err != nil {
		return err
	}
	n := len(o.Items)
	products, skus, names := make([]string, n), make([]string, n), make([]string, n)
	qty, unit, total := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, it := range o.Items {
		products[i], skus[i], names[i] = it.ProductID, it.SKU, it.Name
		qty[i], unit[i], total[i] = it.Quantity, it.UnitPriceCents, it.LineTotalCents
	}
	// One statement for every line; ordinality keeps the request's order.
	_, err := tx.ExecContext(ctx, `INSERT INTO order_items
		(order_id, line, product_id, sku, name, quantity, unit_price_cents, line_total_cents)
		SELECT $1, t.ord - 1, t.p, t.s, t.n, t.q, t.u, t.l
		FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
			WITH ORDINALITY AS t(p, s, n, q, u, l, ord)`,
		o.ID, pq.Array(products), pq.Array(skus), pq.Array(names), pq.Array(qty), pq.Array(unit), pq.Array(total))
	return err
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
