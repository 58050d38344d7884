package pg

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// MaxTxAttempts bounds how often InTx runs fn when it keeps losing
// serialization races: enough to ride out a burst of contention, few enough
// that a hot row turns into an error instead of a stalled request.
const MaxTxAttempts = 5

// Back-off between attempts: short, because the competing transaction has
// usually just committed, and jittered, so two losers do not collide again.
const (
	txRetryBase = 5 * time.Millisecond
	txRetryMax  = 100 * time.Millisecond
)

// InTx runs fn in a transaction with the server's default isolation level.
// See InTxOpts.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	return InTxOpts(ctx, db, nil, fn)
}

// InTxOpts runs fn in a transaction begun with opts (nil for defaults, or
// e.g. &sql.TxOptions{Isolation: sql.LevelSerializable}).
//
//   - fn returns nil: the transaction commits, and the commit's error is
//     returned.
//   - fn returns an error: the transaction rolls back and that error is
//     returned unchanged, so domain errors keep their identity.
//   - fn panics: the transaction rolls back and the panic continues.
//
// When fn or the commit fails with serialization_failure (40001) or
// deadlock_detected (40P01), the whole transaction, fn included, runs again,
// at most MaxTxAttempts times in all. fn must therefore have no effects
// outside tx that cannot be repeated. When every attempt lost, the last
// error is returned wrapped (IsRetryable still reports it).
//
// A cached statement that a migration made stale (see stalePlan) fails
// inside a transaction too, and aborts it; the connection has dropped the
// statement by then, so the transaction is run again the same way instead
// of failing the request once per pooled connection after every deploy.
//
// Failures of BEGIN and COMMIT themselves, and a lost retry race, are
// classified (see Classify): a database outage reaches the client as 503
// UNAVAILABLE, never as a 500, whichever statement noticed it.
func InTxOpts(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := runTx(ctx, db, opts, fn)
		if err == nil || !(IsRetryable(err) || stalePlan(err)) {
			return err
		}
		if attempt == MaxTxAttempts {
			return Classify(fmt.Errorf("pg: transaction failed %d times: %w", attempt, err))
		}
		if err := sleep(ctx, retryDelay(attempt)); err != nil {
			return err
		}
	}
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return Classify(fmt.Errorf("pg: begin: %w", err))
	}
	committed := false
	defer func() {
		// Covers a panic in fn (err is not set then): roll back before the
		// panic unwinds further, so the connection goes back to the pool
		// clean instead of holding locks until it is garbage.
		if !committed && err == nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		// The rollback error is dropped: fn's error is the news, and a
		// failed rollback means the connection is gone, which rolls back.
		_ = tx.Rollback()
		return err
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return Classify(fmt.Errorf("pg: commit: %w", err))
	}
	return nil
}

func retryDelay(attempt int) time.Duration {
	d := min(txRetryBase<<(attempt-1), txRetryMax)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
