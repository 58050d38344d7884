package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/saga"
)

// A saga row keeps saga.State as JSON in state, except for what the
// store's conditions need as columns: version and the lease, which only
// the columns hold (Claim and Renew change them without rewriting the
// document), and status, written with the document.

// sagaDocument is st as stored in the state column: a string, because
// kit/pg sends []byte in binary format, which jsonb does not take.
func sagaDocument(st saga.State) (string, error) {
	st.Version, st.LeaseOwner, st.LeaseExpiry = 0, "", time.Time{}
	b, err := json.Marshal(st)
	if err != nil {
		return "", errs.Internalf(err, "orders: encoding saga %s", st.ID)
	}
	return string(b), nil
}

const sagaColumns = `state, version, lease_owner, lease_expiry`

func scanSaga(r pg.Scanner) (saga.State, error) {
	var (
		doc    []byte
		st     saga.State
		expiry sql.NullTime
	)
	var version int64
	var owner string
	if err := r.Scan(&doc, &version, &owner, &expiry); err != nil {
		return saga.State{}, err
	}
	if err := json.Unmarshal(doc, &st); err != nil {
		return saga.State{}, errs.Internalf(err, "orders: decoding a stored saga")
	}
	st.Version, st.LeaseOwner = version, owner
	if expiry.Valid {
		st.LeaseExpiry = expiry.Time.UTC()
	}
	return st, nil
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }

func insertSaga(ctx context.Context, tx *sql.Tx, st saga.State, orderID, kind string) error {
	doc, err := sagaDocument(st)
	if err != nil {
		return err
	}
	var order sql.NullString
	if orderID != "" {
		order = sql.NullString{String: orderID, Valid: true}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO sagas (id, order_id, kind, definition, status, state,
		version, lease_owner, lease_expiry, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		st.ID, order, kind, st.Definition, st.Status, doc,
		st.Version, st.LeaseOwner, nullTime(st.LeaseExpiry), st.CreatedAt, st.UpdatedAt)
	return err
}

// sagaKind is the kind of a saga created without an order (CreateSaga):
// named by its definition ("cancel.v1"), checkout otherwise.
func sagaKind(definition string) string {
	if strings.HasPrefix(definition, "cancel.") {
		return "cancel"
	}
	return "checkout"
}

func (s *postgresStore) CreateSaga(ctx context.Context, st saga.State) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	return classify(pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		return insertSaga(ctx, tx, st, "", sagaKind(st.Definition))
	}))
}

func (s *postgresStore) LoadSaga(ctx context.Context, id string) (saga.State, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	st, err := scanSaga(s.db.QueryRowContext(ctx, `SELECT `+sagaColumns+` FROM sagas WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return saga.State{}, saga.ErrNotFound
	}
	if err != nil {
		return saga.State{}, classify(err)
	}
	return st, nil
}

func (s *postgresStore) SaveSaga(ctx context.Context, st *saga.State, change *OrderChange) error {
	doc, err := sagaDocument(*st)
	if err != nil {
		return err
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	// Each form is one statement, hence atomic without BEGIN and COMMIT
	// round trips: a checkout saves five times, and round trips were most
	// of its database time.
	if change == nil {
		err = saveSagaOnly(ctx, s.db, st, doc)
	} else {
		err = saveSagaAndOrder(ctx, s.db, st, doc, change)
	}
	if err != nil {
		return classify(err)
	}
	st.Version++
	return nil
}

// saveSagaOnly writes st when its stored version is still st.Version. The
// version check and the write are one statement: a claim by another
// instance in between bumps the version and this matches nothing. The
// lease columns are left alone.
func saveSagaOnly(ctx context.Context, db *sql.DB, st *saga.State, doc string) error {
	res, err := db.ExecContext(ctx, `UPDATE sagas
		SET state = $3, status = $4, definition = $5, updated_at = $6, version = version + 1
		WHERE id = $1 AND version = $2`,
		st.ID, st.Version, doc, st.Status, st.Definition, st.UpdatedAt)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return missingOr(ctx, db, st.ID, saga.ErrConflict)
	}
	return nil
}

// saveSagaAndOrderSQL saves a saga as saveSagaOnly does and applies its
// order change, in one statement (so one transaction):
//   - the saga is written only if its version matches and its order
//     exists (a change for a missing order writes nothing);
//   - cur takes the order's row lock, as every change of an order does
//     (see lockOrder), so changes of one order serialize and their outbox
//     rows follow the order they happen in;
//   - with prices, items reprices the lines whose price differs and the
//     total and currency follow; without, they are left as they are;
//   - upd writes the order only when something differs: a change that
//     changes nothing (a step's result repeated by the saves after it)
//     leaves updated_at alone;
//   - a status that differs appends its event to the outbox.
//
// Data-modifying CTEs run to completion whether read or not; the
// statement returns whether the saga was written. A change without
// prices (most) uses the statement without the items part: its plan is
// smaller, and measurably cheaper to run even where the part would do
// nothing.
func saveSagaAndOrderSQL(withPrices bool) string {
	items, changed := "", "false"
	total, currency := "cur.total_cents", "cur.currency"
	if withPrices {
		items = `, items AS (
		UPDATE order_items i
		SET unit_price_cents = c.u, line_total_cents = i.quantity * c.u
		FROM cur, unnest($14::uuid[], $15::bigint[]) AS c(p, u)
		WHERE i.order_id = cur.id AND i.product_id = c.p AND i.unit_price_cents <> c.u
		RETURNING 1
	)`
		changed, total, currency = "EXISTS (SELECT 1 FROM items)", "$12::bigint", "$13::text"
	}
	return `WITH s AS (
		UPDATE sagas
		SET state = $3, status = $4, definition = $5, updated_at = $6, version = version + 1
		WHERE id = $1 AND version = $2 AND EXISTS (SELECT 1 FROM orders WHERE id = $7::uuid)
		RETURNING id
	), cur AS (
		SELECT id, user_id, status, failure_reason, payment_id, total_cents, currency
		FROM orders WHERE id = $7::uuid AND EXISTS (SELECT 1 FROM s)
		FOR UPDATE
	)` + items + `, nxt AS (
		SELECT cur.*,
			COALESCE(NULLIF($8::text, ''), cur.status) AS new_status,
			COALESCE(NULLIF($9::text, ''), cur.failure_reason) AS new_failure,
			COALESCE(NULLIF($10::text, ''), cur.payment_id) AS new_payment,
			` + total + ` AS new_total,
			` + currency + ` AS new_currency
		FROM cur
	), upd AS (
		UPDATE orders o
		SET status = n.new_status, failure_reason = n.new_failure, payment_id = n.new_payment,
			total_cents = n.new_total, currency = n.new_currency, updated_at = $11
		FROM nxt n
		WHERE o.id = n.id AND (` + changed + `
			OR (n.new_status, n.new_failure, n.new_payment, n.new_total, n.new_currency)
				IS DISTINCT FROM (n.status, n.failure_reason, n.payment_id, n.total_cents, n.currency))
		RETURNING o.id, o.user_id, o.status, o.failure_reason, n.status AS was
	), event AS (
		INSERT INTO outbox (order_id, user_id, status, reason, created_at)
		SELECT id, user_id, status, failure_reason, $11 FROM upd WHERE status <> was
		RETURNING 1
	)
	SELECT EXISTS (SELECT 1 FROM s)`
}

// The two forms of saveSagaAndOrderSQL, built once.
var (
	saveSagaOrderPricesSQL = saveSagaAndOrderSQL(true)
	saveSagaOrderSQL       = saveSagaAndOrderSQL(false)
)

// saveSagaAndOrder writes st and what it changes in its order in one
// statement (see saveSagaAndOrderSQL).
func saveSagaAndOrder(ctx context.Context, db *sql.DB, st *saga.State, doc string, c *OrderChange) error {
	id, ok := canonID(c.OrderID)
	if !ok {
		return errs.Internalf(nil, "orders: saga change for order %q, not a UUID", c.OrderID)
	}
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	query := saveSagaOrderSQL
	args := []any{st.ID, st.Version, doc, st.Status, st.Definition, st.UpdatedAt,
		id, string(c.Status), c.FailureReason, c.PaymentID, now}
	if c.Items != nil {
		products, prices := make([]string, len(c.Items)), make([]int64, len(c.Items))
		for i, it := range c.Items {
			products[i], prices[i] = it.ProductID, it.UnitPriceCents
		}
		query = saveSagaOrderPricesSQL
		args = append(args, c.TotalCents, c.Currency, pq.Array(products), pq.Array(prices))
	}
	var saved bool
	if err := db.QueryRowContext(ctx, query, args...).Scan(&saved); err != nil || saved {
		return err
	}
	// Nothing was written: say why, as the saga then the order condition.
	var version int64
	err := db.QueryRowContext(ctx, `SELECT version FROM sagas WHERE id = $1`, st.ID).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return saga.ErrNotFound
	case err != nil:
		return err
	case version != st.Version:
		return saga.ErrConflict
	}
	return errs.Internalf(nil, "orders: saga change for order %s, which does not exist", id)
}

// missingOr returns saga.ErrNotFound when saga id does not exist, and
// otherwise why (a conditional update matched nothing).
func missingOr(ctx context.Context, q queryer, id string, why error) error {
	var exists bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sagas WHERE id = $1)`, id).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return saga.ErrNotFound
	}
	return why
}

func (s *postgresStore) ClaimSaga(ctx context.Context, id, owner string, now, until time.Time) (saga.State, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	// The lease condition and the claim are one statement, so concurrent
	// claims serialize on the row and exactly one wins a free lease. The
	// version bump fences the previous holder's next save.
	st, err := scanSaga(s.db.QueryRowContext(ctx, `UPDATE sagas
		SET lease_owner = $2, lease_expiry = $4, version = version + 1
		WHERE id = $1 AND (lease_owner = '' OR lease_owner = $2 OR lease_expiry IS NULL OR lease_expiry <= $3)
		RETURNING `+sagaColumns, id, owner, now, until))
	if errors.Is(err, sql.ErrNoRows) {
		err = missingOr(ctx, s.db, id, saga.ErrLeaseHeld)
	}
	if err != nil {
		return saga.State{}, classify(err)
	}
	return st, nil
}

func (s *postgresStore) RenewSaga(ctx context.Context, id, owner string, until time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, `UPDATE sagas SET lease_expiry = $3 WHERE id = $1 AND lease_owner = $2`,
		id, owner, until)
	if err != nil {
		return classify(err)
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = missingOr(ctx, s.db, id, saga.ErrLeaseHeld)
	}
	return classify(err)
}

func (s *postgresStore) ListClaimableSagas(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	// sagas_claimable_idx: the status list must match its predicate.
	ids, err := collect(ctx, s.db, scanString, `SELECT id FROM sagas
		WHERE status IN ('running', 'compensating')
			AND (lease_owner = '' OR lease_expiry IS NULL OR lease_expiry <= $1)
		ORDER BY updated_at, id LIMIT $2`, now, limit)
	return ids, classify(err)
}

func scanString(r pg.Scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

// sagaStatuses are the saga statuses each debug filter selects.
var sagaStatuses = map[SagaFilter][]string{
	SagasActive:    {string(saga.Running), string(saga.Compensating)},
	SagasFailed:    {string(saga.Compensated)},
	SagasAttention: {string(saga.RequiresAttention)},
}

func errSagaFilter(f SagaFilter) error {
	return errs.Newf(errs.InvalidArgument, errs.ReasonValidation,
		"orders: saga filter %q: want active, failed or attention", f)
}

func (s *postgresStore) Sagas(ctx context.Context, filter SagaFilter, limit int) ([]SagaRecord, error) {
	statuses, ok := sagaStatuses[filter]
	if !ok {
		return nil, errSagaFilter(filter)
	}
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	recs, err := collect(ctx, s.db, func(r pg.Scanner) (SagaRecord, error) {
		var (
			rec   SagaRecord
			order sql.NullString
		)
		st, err := scanSaga(scanFirst(r, &order, &rec.Kind))
		rec.OrderID, rec.State = order.String, st
		return rec, err
	}, `SELECT order_id, kind, `+sagaColumns+` FROM sagas WHERE status = ANY($1)
		ORDER BY updated_at DESC, id DESC LIMIT $2`, pq.Array(statuses), limit)
	return recs, classify(err)
}

// scanFirst scans the leading columns of r into head and hands the rest
// to the scanner it returns.
func scanFirst(r pg.Scanner, head ...any) pg.Scanner {
	return scanFunc(func(rest ...any) error { return r.Scan(append(head, rest...)...) })
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }
