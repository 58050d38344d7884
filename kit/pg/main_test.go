package pg_test

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

//go:embed testdata/migrations
var testMigrations embed.FS

// itemsMigrations is the embedded set, reached the way services do it.
func itemsMigrations(t *testing.T) fs.FS {
	t.Helper()
	sub, err := fs.Sub(testMigrations, "testdata/migrations")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(context.Background(), d)
}
