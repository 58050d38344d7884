package main

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"time"

	"github.com/kitshop/kitshop/kit/pg"
)

//go:embed processor_migrations/*.sql
var processorMigrationFiles embed.FS

// processorSchema is the simulated processor's own schema. It stands for
// an external system's database: payments' store never reads it, and it
// is not payments' schema, so the two can be told apart in every query
// log and dropped separately.
const processorSchema = "simulated_processor"

// OpenSimulatedProcessor returns a simulated processor that remembers its
// decisions in its own schema of dsn, migrated.
func OpenSimulatedProcessor(ctx context.Context, dsn string) (*SimulatedProcessor, error) {
	db, err := pg.Open(ctx, dsn, processorSchema)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(processorMigrationFiles, "processor_migrations")
	if err == nil {
		err = pg.Migrate(ctx, db, sub)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	// A processor is a remote dependency with its own capacity: a small
	// pool keeps it from starving payments' own connections.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4) // no churn: see pg.MaxIdleConns
	return &SimulatedProcessor{ledger: &postgresLedger{db: db}, now: time.Now}, nil
}

type postgresLedger struct{ db *sql.DB }

const simChargeColumns = `idempotency_key, outcome, code, amount_cents, currency, card_last4, created_at`

func scanSimCharge(r rowScanner) (SimulatedCharge, error) {
	var c SimulatedCharge
	var outcome string
	err := r.Scan(&c.Key, &outcome, &c.Decision.Code, &c.AmountCents, &c.Currency, &c.CardLast4, &c.CreatedAt)
	c.CreatedAt = c.CreatedAt.UTC()
	if outcome == "APPROVED" {
		c.Decision.Outcome = Approved
	} else {
		c.Decision.Outcome = Declined
	}
	return c, err
}

func (l *postgresLedger) remember(ctx context.Context, c SimulatedCharge) (SimulatedCharge, error) {
	outcome := "DECLINED"
	if c.Decision.Outcome == Approved {
		outcome = "APPROVED"
	}
	// ON CONFLICT DO NOTHING waits for a concurrent insert of the key to
	// commit; the SELECT that follows then sees the winner's record.
	got, err := scanSimCharge(l.db.QueryRowContext(ctx, `INSERT INTO charges (`+simChargeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING `+simChargeColumns,
		c.Key, outcome, c.Decision.Code, c.AmountCents, c.Currency, c.CardLast4, c.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		var ok bool
		got, ok, err = l.lookup(ctx, c.Key)
		if err == nil && !ok {
			err = errors.New("charge record vanished")
		}
	}
	return got, err
}

func (l *postgresLedger) lookup(ctx context.Context, key string) (SimulatedCharge, bool, error) {
	c, err := scanSimCharge(l.db.QueryRowContext(ctx,
		`SELECT `+simChargeColumns+` FROM charges WHERE idempotency_key = $1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return SimulatedCharge{}, false, nil
	}
	return c, err == nil, err
}

func (l *postgresLedger) all(ctx context.Context) ([]SimulatedCharge, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT `+simChargeColumns+` FROM charges ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SimulatedCharge
	for rows.Next() {
		c, err := scanSimCharge(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (l *postgresLedger) Close() error { return l.db.Close() }
