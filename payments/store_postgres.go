package main

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"hash/fnv"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schema is the Postgres schema payments owns.
const schema = "payments"

// postgresStore is the Store on Postgres. Exclusivity comes from locks
// held by the writing transaction: a transaction-scoped advisory lock per
// charge key (so a concurrent identical charge waits for the first write
// to commit and then sees its payment, rather than inserting one too),
// and the payment's row lock for refunds. The UNIQUE constraints on
// the keys and the CHECK constraints on amounts hold the invariants even
// if a lock were ever missed.
type postgresStore struct {
	db *sql.DB
}

// openPostgresStore opens the payments schema of dsn, migrated.
func openPostgresStore(ctx context.Context, dsn string) (*postgresStore, error) {
	db, err := pg.OpenMigrated(ctx, dsn, schema, migrationFiles)
	if err != nil {
		return nil, err
	}
	return &postgresStore{db: db}, nil
}

const paymentColumns = `id, order_id, user_id, amount_cents, currency, status, card_brand, card_last4,
	decline_code, refunded_cents, idempotency_key, created_at, updated_at`

type rowScanner = pg.Scanner

func scanPayment(r rowScanner) (Payment, error) {
	var p Payment
	err := r.Scan(&p.ID, &p.OrderID, &p.UserID, &p.AmountCents, &p.Currency, &p.Status, &p.CardBrand,
		&p.CardLast4, &p.DeclineCode, &p.RefundedCents, &p.IdempotencyKey, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

func (s *postgresStore) WriteCharge(ctx context.Context, key string, decide func(*Payment) (*Change, error)) (Payment, error) {
	var out Payment
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, chargeLockKey(key)); err != nil {
			return err
		}
		var existing *Payment
		p, err := scanPayment(tx.QueryRowContext(ctx,
			`SELECT `+paymentColumns+` FROM payments WHERE idempotency_key = $1 FOR UPDATE`, key))
		switch {
		case err == nil:
			existing = &p
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		change, err := decide(existing)
		if err != nil {
			return err
		}
		if change == nil {
			if existing == nil {
				return errs.Internalf(errNoChange, "payments: charge %q", key)
			}
			out = *existing
			return nil
		}
		// The payment's write and its event are one statement: one round
		// trip less per recorded charge (a charge records twice).
		ev := change.Event
		if existing == nil {
			p := change.Payment
			out, err = scanPayment(tx.QueryRowContext(ctx, `WITH p AS (
					INSERT INTO payments (`+paymentColumns+`)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
					RETURNING `+paymentColumns+`
				), e AS (
					INSERT INTO payment_events
						(payment_id, type, amount_cents, requested_cents, idempotency_key, reason, created_at)
					SELECT p.id, $14, $15, $16, $17, $18, $19 FROM p
				)
				SELECT `+paymentColumns+` FROM p`,
				p.ID, p.OrderID, p.UserID, p.AmountCents, p.Currency, p.Status, p.CardBrand, p.CardLast4,
				p.DeclineCode, p.RefundedCents, key, p.CreatedAt, p.UpdatedAt,
				ev.Type, ev.AmountCents, ev.RequestedCents, ev.IdempotencyKey, ev.Reason, ev.CreatedAt))
		} else {
			out, err = scanPayment(tx.QueryRowContext(ctx, `WITH p AS (
					UPDATE payments SET status = $2, decline_code = $3, updated_at = $4 WHERE id = $1
					RETURNING `+paymentColumns+`
				), e AS (
					INSERT INTO payment_events
						(payment_id, type, amount_cents, requested_cents, idempotency_key, reason, created_at)
					SELECT p.id, $5, $6, $7, $8, $9, $10 FROM p
				)
				SELECT `+paymentColumns+` FROM p`,
				existing.ID, change.Payment.Status, change.Payment.DeclineCode, change.Payment.UpdatedAt,
				ev.Type, ev.AmountCents, ev.RequestedCents, ev.IdempotencyKey, ev.Reason, ev.CreatedAt))
		}
		return err
	})
	if err != nil {
		return Payment{}, s.classify(err)
	}
	return out, nil
}

func insertEvent(ctx context.Context, tx *sql.Tx, paymentID string, ev Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO payment_events
		(payment_id, type, amount_cents, requested_cents, idempotency_key, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		paymentID, ev.Type, ev.AmountCents, ev.RequestedCents, ev.IdempotencyKey, ev.Reason, ev.CreatedAt)
	return err
}

func (s *postgresStore) Refund(ctx context.Context, id, key string, decide func(Payment, *Event) (*Change, error)) (Payment, error) {
	var out Payment
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		// The row lock serializes refunds of this payment: each sees the
		// refunded amount the previous one left.
		p, err := scanPayment(tx.QueryRowContext(ctx,
			`SELECT `+paymentColumns+` FROM payments WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var prior *Event
		ev, err := scanEvent(tx.QueryRowContext(ctx,
			`SELECT `+eventColumns+` FROM payment_events WHERE type = 'REFUNDED' AND idempotency_key = $1`, key))
		switch {
		case err == nil:
			prior = &ev
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		change, err := decide(p, prior)
		if err != nil {
			return err
		}
		if change == nil {
			out = p
			return nil
		}
		out, err = scanPayment(tx.QueryRowContext(ctx, `UPDATE payments
			SET status = $2, refunded_cents = $3, updated_at = $4 WHERE id = $1
			RETURNING `+paymentColumns,
			id, change.Payment.Status, change.Payment.RefundedCents, change.Payment.UpdatedAt))
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, id, change.Event)
	})
	if err != nil {
		return Payment{}, s.classify(err)
	}
	return out, nil
}

const eventColumns = `payment_id, type, amount_cents, requested_cents, idempotency_key, reason, created_at`

func scanEvent(r rowScanner) (Event, error) {
	var ev Event
	err := r.Scan(&ev.PaymentID, &ev.Type, &ev.AmountCents, &ev.RequestedCents, &ev.IdempotencyKey,
		&ev.Reason, &ev.CreatedAt)
	ev.CreatedAt = ev.CreatedAt.UTC()
	return ev, err
}

func (s *postgresStore) Payment(ctx context.Context, id string) (Payment, error) {
	p, err := scanPayment(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, ErrNotFound
	}
	if err != nil {
		return Payment{}, s.classify(err)
	}
	return p, nil
}

func (s *postgresStore) ChargeByKey(ctx context.Context, key string) (Payment, error) {
	p, err := scanPayment(s.db.QueryRowContext(ctx,
		`SELECT `+paymentColumns+` FROM payments WHERE idempotency_key = $1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, ErrChargeNotFound
	}
	if err != nil {
		return Payment{}, s.classify(err)
	}
	return p, nil
}

func (s *postgresStore) Pending(ctx context.Context, cutoff time.Time, limit int) ([]Payment, error) {
	// payments_pending_idx covers this: PENDING rows are few and short-lived.
	rows, err := s.db.QueryContext(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE status = 'PENDING' AND updated_at < $1 ORDER BY updated_at, id LIMIT $2`, cutoff, limit)
	out, err := pg.Collect(rows, err, scanPayment)
	if err != nil {
		return nil, s.classify(err)
	}
	return out, nil
}

// ListPayments walks payments_created_idx (created_at, id); with an order
// id, payments_order_id_idx finds the order's few payments first.
func (s *postgresStore) ListPayments(ctx context.Context, q PaymentQuery) ([]Payment, error) {
	var after any // NULL: from the first
	afterID := ""
	if q.After != nil {
		after, afterID = q.After.CreatedAt, q.After.ID
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE ($1::uuid IS NULL OR order_id = $1::uuid)
		  AND ($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::uuid))
		ORDER BY created_at, id LIMIT $4`, nullable(q.OrderID), after, nullable(afterID), q.Limit)
	out, err := pg.Collect(rows, err, scanPayment)
	if err != nil {
		return nil, s.classify(err)
	}
	return out, nil
}

// nullable is s, or NULL when s is empty (an unset filter).
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *postgresStore) Events(ctx context.Context, paymentID string) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+eventColumns+` FROM payment_events WHERE payment_id = $1 ORDER BY seq`, paymentID)
	out, err := pg.Collect(rows, err, scanEvent)
	if err != nil {
		return nil, s.classify(err)
	}
	return out, nil
}

func (s *postgresStore) Close() error { return s.db.Close() }

// classify maps what the constraints caught to domain errors, and the
// rest through kit/pg.
func (s *postgresStore) classify(err error) error {
	switch c, _ := pg.IsUniqueViolation(err); c {
	case "payment_events_refund_key":
		// Another payment's refund took the key between our lookup and
		// our insert (only this payment's row was locked).
		return ErrIdempotencyKeyReused
	case "payments_idempotency_key_key":
		// Unreachable while the advisory lock is held; reported as
		// retryable rather than as a second payment.
		return errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, err, "concurrent charge, retry")
	}
	return pg.Classify(err)
}

// chargeLockKey is the advisory lock id for a charge key. Collisions only
// make unrelated charges wait for each other; the namespace prefix keeps
// them away from other users of advisory locks (kit/pg.Migrate).
func chargeLockKey(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("kitshop/payments.charge\x00" + key))
	return int64(h.Sum64())
}
