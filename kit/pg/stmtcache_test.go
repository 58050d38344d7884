package pg_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"testing"

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
	db := pgtest.DB(t, "stmts")
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	db := pgtest.DB(t, "stmts")
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	db := pgtest.DB(t, "stmts")
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
