package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// childEnv switches the test binary into a child that starts the cluster,
// reports it and exits, with ("main") or without ("forget-main")
// pgtest.Main's cleanup; see TestLifecycle.
const childEnv = "PGTEST_LIFECYCLE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "forget-main" {
		// A package that forgot pgtest.Main: exit without stopping.
		os.Exit(m.Run())
	}
	pgtest.Main(m)
}

func openRaw(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	c, err := pq.NewConnector(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func currentDatabase(t *testing.T, db *sql.DB) string {
	t.Helper()
	var name string
	if err := db.QueryRowContext(context.Background(), `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

func databaseExists(t *testing.T, admin *sql.DB, name string) bool {
	t.Helper()
	var ok bool
	if err := admin.QueryRowContext(context.Background(),
		`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// Each URL is its own database, and it is gone once its test is over, even
// when the test left a connection open.
func TestURLIsFreshAndDropped(t *testing.T) {
	admin := openRaw(t, pgtest.ClusterURL(t))
	var first, second string
	t.Run("inner", func(t *testing.T) {
		a := openRaw(t, pgtest.URL(t))
		b := openRaw(t, pgtest.URL(t))
		first, second = currentDatabase(t, a), currentDatabase(t, b)
		if first == second || !strings.HasPrefix(first, "test_") {
			t.Fatalf("databases %q and %q: want two distinct test_ databases", first, second)
		}
		if _, err := a.Exec(`CREATE TABLE t (id int)`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := b.QueryRow(`SELECT count(*) FROM pg_tables WHERE tablename = 't'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("second database sees the first one's table (n=%d, err=%v)", n, err)
		}
		// a and b stay open on purpose: the drop must force them out.
		// Their Cleanup (Close) runs before URL's, so open one more conn
		// that nobody closes until the database is dropped.
		leak, err := a.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_ = leak
	})
	for _, name := range []string{first, second} {
		if databaseExists(t, admin, name) {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

func TestDBUsesSchema(t *testing.T) {
	db := pgtest.DB(t, "svc")
	var sp string
	if err := db.QueryRow(`SHOW search_path`).Scan(&sp); err != nil {
		t.Fatal(err)
	}
	if sp != `"svc"` && sp != "svc" {
		t.Fatalf("search_path = %q, want svc", sp)
	}
}

func TestClusterInfo(t *testing.T) {
	info := pgtest.Cluster(t)
	if info.Host == "" || info.Port == 0 || info.User == "" || info.URL == "" {
		t.Fatalf("incomplete Info: %+v", info)
	}
	if info.External != (os.Getenv("DATABASE_URL") != "") {
		t.Fatalf("External = %v with DATABASE_URL=%q", info.External, pg.Redact(os.Getenv("DATABASE_URL")))
	}
	db := openRaw(t, info.URL)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if info.External {
		return
	}
	var superuser string
	if err := db.QueryRow(`SELECT current_setting('is_superuser')`).Scan(&superuser); err != nil || superuser != "on" {
		t.Fatalf("test role is not a superuser (%q, %v)", superuser, err)
	}
}
