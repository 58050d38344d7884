package pg_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// ledgerDB is a pool with one table, ledger(id int primary key).
func ledgerDB(t *testing.T) *sql.DB {
	t.Helper()
	db := pgtest.DB(t, "ledger")
	mustExec(t, db, `CREATE TABLE ledger (id int PRIMARY KEY)`)
	return db
}

func insertLedger(ctx context.Context, tx *sql.Tx, id int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO ledger (id) VALUES ($1)`, id)
	return err
}

func TestInTxCommits(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := ledgerDB(t)
	if err := pg.InTx(ctx, db, func(tx *sql.Tx) error { return insertLedger(ctx, tx, 1) }); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM ledger`); n != 1 {
		t.Fatalf("%d rows after commit, want 1", n)
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := ledgerDB(t)
	sentinel := errors.New("business rule says no")
	err := pg.InTx(ctx, db, func(tx *sql.Tx) error {
		if err := insertLedger(ctx, tx, 1); err != nil {
			return err
		}
		return sentinel
	})
	if err != sentinel {
		t.Fatalf("got %v, want fn's error unchanged", err)
	}
	if n := count(t, db, `SELECT count(*) FROM ledger`); n != 0 {
		t.Fatalf("%d rows after rollback, want 0", n)
	}
}

func TestInTxRollsBackOnPanic(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := ledgerDB(t)
	recovered := func() (p any) {
		defer func() { p = recover() }()
		_ = pg.InTx(ctx, db, func(tx *sql.Tx) error {
			if err := insertLedger(ctx, tx, 1); err != nil {
				t.Error(err)
			}
			panic("boom")
		})
		return nil
	}()
	if recovered != "boom" {
		t.Fatalf("recovered %v, want the panic to continue", recovered)
	}
	if n := count(t, db, `SELECT count(*) FROM ledger`); n != 0 {
		t.Fatalf("%d rows after panic, want 0", n)
	}
	if inUse := db.Stats().InUse; inUse != 0 {
		t.Fatalf("%d connections still in use after the panic", inUse)
	}
}

// A transaction that loses a race reports 40001 (or 40P01); InTx runs it
// again, and the first attempt's writes are gone.
func TestInTxRetriesRetryableErrors(t *testing.T) {
	t.Parallel()
	for _, code := range []pqerror.Code{pqerror.TRSerializationFailure, pqerror.TRDeadlockDetected} {
		t.Run(code.Name(), func(t *testing.T) {
			ctx := testContext(t)
			db := ledgerDB(t)
			var calls int
			err := pg.InTx(ctx, db, func(tx *sql.Tx) error {
				calls++
				// Same key both times: a leftover from attempt 1 would
				// make attempt 2 fail.
				if err := insertLedger(ctx, tx, 1); err != nil {
					return err
				}
				if calls == 1 {
					return fmt.Errorf("store: %w", &pq.Error{Code: code, Message: "synthetic"})
				}
				return nil
			})
			if err != nil || calls != 2 {
				t.Fatalf("err=%v calls=%d, want success on the second call", err, calls)
			}
			if n := count(t, db, `SELECT count(*) FROM ledger`); n != 1 {
				t.Fatalf("%d rows, want 1", n)
			}
		})
	}
}

// Two SERIALIZABLE transactions that each read what the other writes: the
// server aborts the later one with a real serialization failure, and InTx
// re-runs it to success.
func TestInTxRetriesRealSerializationFailure(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := ledgerDB(t)
	serializable := &sql.TxOptions{Isolation: sql.LevelSerializable}

	var attempts atomic.Int32
	aRead := make(chan struct{})
	bDone := make(chan error, 1)
	go func() {
		// B: read, wait until A has read too, write, commit first.
		bDone <- func() error {
			tx, err := db.BeginTx(ctx, serializable)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ledger`).Scan(&n); err != nil {
				return err
			}
			select {
			case <-aRead:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := insertLedger(ctx, tx, 100+n); err != nil {
				return err
			}
			return tx.Commit()
		}()
	}()

	var sawFailure atomic.Bool
	err := pg.InTxOpts(ctx, db, serializable, func(tx *sql.Tx) error {
		attempt := attempts.Add(1)
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ledger`).Scan(&n); err != nil {
			return err
		}
		if attempt == 1 {
			close(aRead)
			if err := <-bDone; err != nil {
				t.Errorf("transaction B: %v", err)
			}
		}
		err := insertLedger(ctx, tx, 200+n)
		if pg.IsRetryable(err) {
			sawFailure.Store(true)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := attempts.Load(); got != 2 {
		t.Fatalf("fn ran %d times, want 2 (one serialization failure, then success)", got)
	}
	// The failure may surface at the INSERT or at COMMIT; either way the
	// retry saw B's row.
	if n := count(t, db, `SELECT count(*) FROM ledger`); n != 2 {
		t.Fatalf("%d rows, want B's and A's", n)
	}
	if n := count(t, db, `SELECT count(*) FROM ledger WHERE id = 201`); n != 1 {
		t.Fatal("A's retry did not see B's committed row")
	}
	t.Logf("failure surfaced in fn: %v", sawFailure.Load())
}

func TestInTxGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := ledgerDB(t)
	var calls int
	err := pg.InTx(ctx, db, func(tx *sql.Tx) error {
		calls++
		return &pq.Error{Code: pqerror.TRSerializationFailure}
	})
	if calls != pg.MaxTxAttempts || !pg.IsRetryable(err) {
		t.Fatalf("calls=%d err=%v, want %d calls and a retryable error", calls, err, pg.MaxTxAttempts)
	}
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("lost retry race is %s, want Unavailable (503, worth retrying)", errs.KindOf(err))
	}
}

// A database that cannot be reached at BEGIN is an outage (503), not an
// internal error (500), and says nothing of where the database lives.
func TestInTxClassifiesBeginFailures(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("postgres", "postgres://kitshop@"+kittest.FreeAddr(t)+"/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	called := false
	err = pg.InTx(testContext(t), db, func(*sql.Tx) error { called = true; return nil })
	if called || errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("called=%v err=%v (%s), want Unavailable before fn runs", called, err, errs.KindOf(err))
	}
	if msg := errs.As(err).Message; strings.Contains(msg, "127.0.0.1") {
		t.Fatalf("client-facing message names the address: %q", msg)
	}
}

func TestInTxDoesNotRetryOtherErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := ledgerDB(t)
	mustExec(t, db, `INSERT INTO ledger (id) VALUES (1)`)
	var calls int
	err := pg.InTx(ctx, db, func(tx *sql.Tx) error {
		calls++
		return insertLedger(ctx, tx, 1)
	})
	if _, ok := pg.IsUniqueViolation(err); !ok || calls != 1 {
		t.Fatalf("calls=%d err=%v, want one call and the unique violation", calls, err)
	}
}

func TestInTxStopsRetryingWhenContextEnds(t *testing.T) {
	t.Parallel()
	db := ledgerDB(t)
	ctx, cancel := context.WithCancel(testContext(t))
	var calls int
	err := pg.InTx(ctx, db, func(tx *sql.Tx) error {
		calls++
		cancel()
		return &pq.Error{Code: pqerror.TRSerializationFailure}
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("calls=%d err=%v, want one call and context.Canceled", calls, err)
	}
}
