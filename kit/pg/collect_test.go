package pg_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

func TestCollect(t *testing.T) {
	db := pgtest.DB(t, "collect")
	ctx := context.Background()
	scanInt := func(r pg.Scanner) (int, error) {
		var n int
		return n, r.Scan(&n)
	}
	rows, err := db.QueryContext(ctx, `SELECT generate_series(1, 3)`)
	got, err := pg.Collect(rows, err, scanInt)
	if err != nil || !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("Collect = %v, %v", got, err)
	}

	// The query's error, and a scan's, come back as they are.
	rows, err = db.QueryContext(ctx, `SELECT nope FROM nowhere`)
	if _, err := pg.Collect(rows, err, scanInt); err == nil {
		t.Fatal("a failed query collected nothing without an error")
	}
	boom := errors.New("boom")
	rows, err = db.QueryContext(ctx, `SELECT generate_series(1, 3)`)
	if _, err := pg.Collect(rows, err, func(pg.Scanner) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("scan error: %v", err)
	}
	// The rows were closed: the pool's one connection is free again.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
}
