package pg_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
)

// callDeadline is the context the statements under test get; prompt is
// how long after it they must have returned. lib/pq on its own keeps
// waiting for a frozen server forever (or ConnectTimeout, 10 s, for a new
// connection).
const (
	callDeadline = 300 * time.Millisecond
	prompt       = 2 * time.Second
)

// frozenPool is a pool on a fresh database reached through a proxy, with
// a few connections already open, and the proxy that can freeze it.
func frozenPool(t *testing.T) (*sql.DB, *proxy) {
	t.Helper()
	info, name := testDatabase(t)
	p := startProxy(t, kittest.FreeAddr(t), serverAddr(info))
	db, err := pg.Open(testContext(t), dsnAt(info, p.l.Addr().String(), name), "frozen")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	// Cleanups run last first: cut the proxy's connections before closing
	// the pool, so that a call a failing test left blocked cannot hold
	// db.Close.
	t.Cleanup(p.stop)
	mustExec(t, db, `CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text)`)
	// Open connections enough for every call to find one idle, so that
	// the calls meet the freeze mid-statement, not while connecting.
	const warm = 16
	db.SetMaxOpenConns(2 * warm)
	db.SetMaxIdleConns(2 * warm)
	ctx := testContext(t)
	var conns []*sql.Conn
	for range warm {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	return db, p
}

// within runs call and fails the test unless it returns within prompt of
// the deadline it was given. A call that is still blocked is released when
// the test's proxy stops.
func within(t *testing.T, what string, call func() error) error {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		t.Logf("%s returned after %v: %v", what, time.Since(start).Round(time.Millisecond), err)
		return err
	case <-time.After(callDeadline + prompt):
		t.Fatalf("%s still blocked %v after a %v deadline: the frozen server holds it", what, prompt, callDeadline)
		return nil
	}
}

// wantCallersDeadline checks err is the caller's own deadline, classified
// as such: never an outage (which would open breakers and alarm).
func wantCallersDeadline(t *testing.T, what string, err error, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v (%T) is not %v", what, err, err, want)
	}
	wantKind := errs.DeadlineExceeded
	if want == context.Canceled {
		wantKind = errs.Canceled
	}
	if k := errs.KindOf(pg.Classify(err)); k != wantKind {
		t.Fatalf("%s: classified as %v, want %v: %v", what, k, wantKind, err)
	}
}

// Every kind of statement returns promptly once its context ends, even
// though the server never answers, and it reports the caller's deadline.
// Afterwards the pool works again: the connections that were cut were
// discarded, not reused mid-message.
func TestStatementsEndWithTheirContextWhenTheServerFreezes(t *testing.T) {
	t.Parallel()
	db, p := frozenPool(t)
	ctx := testContext(t)
	mustExec(t, db, `INSERT INTO items VALUES (1, 'one')`)

	// A transaction begun before the freeze, so its COMMIT meets it.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	txCtx, cancelTx := context.WithTimeout(ctx, time.Hour)
	defer cancelTx()
	tx2, err := db.BeginTx(txCtx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx2.ExecContext(ctx, `UPDATE items SET name = 'two' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	stmt, err := db.PrepareContext(ctx, `SELECT name FROM items WHERE id = $1`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	// Rows whose reading meets the freeze: far more than socket buffers
	// hold, so the client must keep reading from the server.
	bigCtx, cancelBig := context.WithCancel(ctx)
	defer cancelBig()
	big, err := db.QueryContext(bigCtx, `SELECT repeat('x', 1000) FROM generate_series(1, 50000)`)
	if err != nil {
		t.Fatal(err)
	}
	if !big.Next() {
		t.Fatal(big.Err())
	}

	p.freeze()

	type call struct {
		name string
		run  func(ctx context.Context) error
	}
	for _, c := range []call{
		{"QueryRowContext", func(ctx context.Context) error {
			var name string
			return db.QueryRowContext(ctx, `SELECT name FROM items WHERE id = 1`).Scan(&name)
		}},
		{"QueryContext", func(ctx context.Context) error {
			rows, err := db.QueryContext(ctx, `SELECT id FROM items`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
			}
			return rows.Err()
		}},
		{"ExecContext", func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, `UPDATE items SET name = 'three' WHERE id = 1`)
			return err
		}},
		{"BeginTx", func(ctx context.Context) error {
			tx, err := db.BeginTx(ctx, nil)
			if err == nil {
				_ = tx.Rollback()
			}
			return err
		}},
		{"InTx", func(ctx context.Context) error {
			return pg.InTx(ctx, db, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM items`)
				return err
			})
		}},
		{"PingContext", func(ctx context.Context) error { return db.PingContext(ctx) }},
		{"prepared statement", func(ctx context.Context) error {
			var name string
			return stmt.QueryRowContext(ctx, 1).Scan(&name)
		}},
		{"statement in an open transaction", func(ctx context.Context) error {
			_, err := tx.ExecContext(ctx, `SELECT 1`)
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(ctx, callDeadline)
		err := within(t, c.name, func() error { return c.run(ctx) })
		cancel()
		wantCallersDeadline(t, c.name, err, context.DeadlineExceeded)
		if strings.Contains(err.Error(), "connecting") {
			t.Fatalf("%s met the freeze while connecting, not on a live connection: %v", c.name, err)
		}
	}

	// Cancellation (a client hanging up) comes back as Canceled.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(callDeadline, cancel)
	err = within(t, "cancelled ExecContext", func() error {
		_, err := db.ExecContext(cctx, `SELECT 1`)
		return err
	})
	wantCallersDeadline(t, "cancelled ExecContext", err, context.Canceled)

	// COMMIT takes no context in database/sql: the transaction's bounds it.
	time.AfterFunc(callDeadline, cancelTx)
	err = within(t, "Commit", tx2.Commit)
	if !errors.Is(err, context.Canceled) && !errors.Is(err, sql.ErrTxDone) {
		t.Fatalf("Commit: %v, want the transaction's context error", err)
	}

	// Reading rows stops too.
	time.AfterFunc(callDeadline, cancelBig)
	err = within(t, "reading rows", func() error {
		for big.Next() {
		}
		return big.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("rows: %v, want context.Canceled", err)
	}
	_ = big.Close()
	_ = tx.Rollback()

	p.thaw()
	// Every connection that was cut is gone: none comes back half-way
	// through a message, so each of these succeeds.
	for i := range 2 * pg.MaxOpenConns {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n); err != nil {
			t.Fatalf("query %d after the thaw: %v", i, err)
		}
	}
}

// A new connection to a server that accepts TCP but never answers the
// startup handshake ends with the caller's context too.
func TestConnectEndsWithItsContextWhenTheServerFreezes(t *testing.T) {
	t.Parallel()
	db, p := frozenPool(t)
	// Make the pool dial anew for every call.
	db.SetMaxIdleConns(0)
	ctx := testContext(t)
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	p.freeze()
	cctx, cancel := context.WithTimeout(ctx, callDeadline)
	defer cancel()
	err := within(t, "Connect", func() error { return db.PingContext(cctx) })
	wantCallersDeadline(t, "Connect", err, context.DeadlineExceeded)
	if !strings.Contains(err.Error(), "while connecting") {
		t.Fatalf("error does not say it was connecting: %v", err)
	}
}

// Readiness fails within CheckTimeout when the database freezes, even if
// the probe's own context would wait longer, and passes again after.
func TestCheckTimesOutOnAFrozenServer(t *testing.T) {
	t.Parallel()
	db, p := frozenPool(t)
	check := pg.Check(db)
	if err := check(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.freeze()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- check(context.Background()) }()
	select {
	case err := <-done:
		if took := time.Since(start); took > pg.CheckTimeout+500*time.Millisecond {
			t.Fatalf("check took %v", took)
		}
		if k := errs.KindOf(err); k != errs.Unavailable {
			t.Fatalf("kind %v, want Unavailable: %v", k, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("check still blocked after 2s on a frozen server")
	}
	p.thaw()
	kittest.WaitFor(t, 5*time.Second, "check passes after the thaw", func() bool {
		return check(context.Background()) == nil
	})
}

// Closing a prepared statement takes a round trip and no context: on a
// frozen server it gives up the connection after a moment instead of
// hanging the caller.
func TestClosingAStatementOnAFrozenServerIsBounded(t *testing.T) {
	t.Parallel()
	db, p := frozenPool(t)
	stmt, err := db.PrepareContext(testContext(t), `SELECT 1`)
	if err != nil {
		t.Fatal(err)
	}
	p.freeze()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- stmt.Close() }()
	select {
	case err := <-done:
		t.Logf("Close returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(3 * time.Second):
		t.Fatal("closing a statement still blocked after 3s on a frozen server")
	}
	p.thaw()
	if err := db.PingContext(testContext(t)); err != nil {
		t.Fatalf("pool unusable after the thaw: %v", err)
	}
}
