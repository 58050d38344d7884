package pg_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// preparedCount is how many statements conn's session holds prepared.
func preparedCount(t *testing.T, ctx context.Context, c *sql.Conn) int {
	t.Helper()
	var n int
	// No parameters: the simple protocol, not itself cached.
	if err := c.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStatementsWithParametersArePreparedOncePerConnection(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := stmtConn(t, ctx)
	before := preparedCount(t, ctx, c) // what opening the pool ran
	for i := range 5 {
		var got int
		if err := c.QueryRowContext(ctx, `SELECT $1::int + 1`, i).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("query %d = %d, %v", i, got, err)
		}
	}
	if n := preparedCount(t, ctx, c) - before; n != 1 {
		t.Fatalf("%d statements prepared after five runs of one, want 1", n)
	}
	if _, err := c.ExecContext(ctx, `SELECT $1::text`, "x"); err != nil {
		t.Fatal(err)
	}
	if n := preparedCount(t, ctx, c) - before; n != 2 {
		t.Fatalf("%d statements prepared after a second one, want 2", n)
	}
}

func TestStatementCacheIsBounded(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := stmtConn(t, ctx)
	for i := range 300 {
		if _, err := c.ExecContext(ctx, fmt.Sprintf(`SELECT $1::int + %d`, i), i); err != nil {
			t.Fatal(err)
		}
	}
	if n := preparedCount(t, ctx, c); n != 256 {
		t.Fatalf("%d statements prepared after 300 distinct ones, want the bound, 256", n)
	}
	// The most recent ones are kept and still work.
	if _, err := c.ExecContext(ctx, `SELECT $1::int + 299`, 1); err != nil {
		t.Fatal(err)
	}
}

func TestStaleStatementIsPreparedAgain(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := stmtConn(t, ctx)
	if _, err := c.ExecContext(ctx, `CREATE TABLE items (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, `INSERT INTO items VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	read := func() (int, error) {
		rows, err := c.QueryContext(ctx, `SELECT * FROM items WHERE id = $1`, 1)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		return len(cols), err
	}
	if n, err := read(); err != nil || n != 1 {
		t.Fatalf("read = %d columns, %v", n, err)
	}
	// A migration changes the table under the prepared statement.
	if _, err := c.ExecContext(ctx, `ALTER TABLE items ADD COLUMN name text`); err != nil {
		t.Fatal(err)
	}
	if n, err := read(); err != nil || n != 2 {
		t.Fatalf("read after ALTER TABLE = %d columns, %v; want 2 and no error", n, err)
	}
}

// Binary-parameter mode: []byte is bytea's binary form, strings are text.
func TestParametersRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := pgtest.DB(t, "stmts")
	blob := []byte{0, 1, 2, 0xff, '\\', 'x'}
	var gotBlob []byte
	var gotDoc string
	err := pg.InTx(ctx, db, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT $1::bytea, ($2::jsonb)->>'a'`, blob, `{"a":"b"}`).Scan(&gotBlob, &gotDoc)
	})
	if err != nil || !bytes.Equal(gotBlob, blob) || gotDoc != "b" {
		t.Fatalf("got %x, %q, %v", gotBlob, gotDoc, err)
	}
}

// A migration that changes a table under a statement cached on a
// connection fails the statement inside a transaction once (the server
// aborts the transaction); InTx runs the transaction again on the
// statement prepared afresh, so the caller never sees it.
func TestStaleStatementInTransactionIsRetriedByInTx(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := pgtest.DB(t, "stmts")
	db.SetMaxOpenConns(1) // every transaction on the connection holding the statement
	if _, err := db.ExecContext(ctx, `CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	read := func() (int, error) {
		attempts = 0
		var n int
		err := pg.InTx(ctx, db, func(tx *sql.Tx) error {
			attempts++
			rows, err := tx.QueryContext(ctx, `SELECT * FROM items WHERE id = $1`, 1)
			if err != nil {
				return err
			}
			defer rows.Close()
			cols, err := rows.Columns()
			n = len(cols)
			return err
		})
		return n, err
	}
	if n, err := read(); err != nil || n != 1 {
		t.Fatalf("read = %d columns, %v", n, err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE items ADD COLUMN name text`); err != nil {
		t.Fatal(err)
	}
	if n, err := read(); err != nil || n != 2 {
		t.Fatalf("read after ALTER TABLE = %d columns, %v; want 2 and no error", n, err)
	}
	if attempts != 2 {
		t.Fatalf("transaction ran %d times, want 2 (the stale statement, then the fresh one)", attempts)
	}
}

// The stale-plan error is recognised by the routine that raises it, which
// the server never translates (its message is, under a non-English
// lc_messages). This pins the routine's name against the real server.
func TestStalePlanErrorNamesItsRoutine(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := stmtConn(t, ctx)
	// SQL-level PREPARE (no parameters: the simple protocol, outside the
	// cache) is revalidated by the same routine as protocol-level ones.
	for _, q := range []string{
		`CREATE TABLE items (id int PRIMARY KEY)`,
		`PREPARE readitems AS SELECT * FROM items`,
		`ALTER TABLE items ADD COLUMN name text`,
	} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.ExecContext(ctx, `EXECUTE readitems`)
	var pe *pq.Error
	if !errors.As(err, &pe) || pe.Code != "0A000" || pe.Routine != "RevalidateCachedQuery" {
		t.Fatalf("EXECUTE of a stale statement = %#v, want 0A000 from RevalidateCachedQuery", err)
	}
}

// stmtConn is one connection of a fresh database's pool, closed when the
// test ends: prepared statements are per connection.
func stmtConn(t *testing.T, ctx context.Context) *sql.Conn {
	t.Helper()
	c, err := pgtest.DB(t, "stmts").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
