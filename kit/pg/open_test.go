package pg_test

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// Every connection the pool opens must land in the service's schema, for
// URL and key=value connection strings alike.
func TestOpenSetsSearchPathOnEveryConnection(t *testing.T) {
	t.Parallel()
	info, name := testDatabase(t)
	kv := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", info.Host, info.Port, info.User, name)
	if info.Password != "" {
		kv += " password='" + strings.ReplaceAll(info.Password, "'", `\'`) + "'"
	}
	for _, tc := range []struct{ form, dsn, schema string }{
		{"url", dsnAt(info, serverAddr(info), name), "users"},
		// A name that only survives if it is quoted everywhere.
		{"key=value", kv + " search_path=ignored", "Mixed Case-Schema"},
	} {
		t.Run(tc.form, func(t *testing.T) {
			ctx := testContext(t)
			db, err := pg.Open(ctx, tc.dsn, tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()

			// Hold several connections at once, so each is a distinct
			// session the pool had to open.
			const n = 5
			pids := map[int]bool{}
			for i := 0; i < n; i++ {
				conn, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				var pid int
				var schema string
				if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid(), current_schema()`).Scan(&pid, &schema); err != nil {
					t.Fatal(err)
				}
				if schema != tc.schema {
					t.Errorf("connection %d: current_schema() = %q, want %q", i, schema, tc.schema)
				}
				pids[pid] = true
				// Unqualified DDL must land in the schema too.
				if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE t%d (id int)`, i)); err != nil {
					t.Fatal(err)
				}
			}
			if len(pids) != n {
				t.Fatalf("got %d distinct sessions, want %d", len(pids), n)
			}
			if got := count(t, db, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, tc.schema); got != n {
				t.Fatalf("%d tables in schema %q, want %d", got, tc.schema, n)
			}
		})
	}
}

// Two services sharing one database each see only their own tables, even
// when the tables have the same name.
func TestSchemasIsolateServices(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.URL(t)
	dbs := map[string]*sql.DB{}
	for _, schema := range []string{"alpha", "beta"} {
		db, err := pg.Open(ctx, url, schema)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if err := pg.Migrate(ctx, db, itemsMigrations(t)); err != nil {
			t.Fatal(err)
		}
		dbs[schema] = db
	}
	mustExec(t, dbs["alpha"], `INSERT INTO items (id, name) VALUES (1, 'only in alpha')`)
	if got := count(t, dbs["beta"], `SELECT count(*) FROM items`); got != 0 {
		t.Fatalf("beta sees %d of alpha's items", got)
	}
	if got := count(t, dbs["alpha"], `SELECT count(*) FROM items`); got != 1 {
		t.Fatalf("alpha sees %d items, want 1", got)
	}
	// The same name in beta is no conflict: it is another table.
	mustExec(t, dbs["beta"], `INSERT INTO items (id, name) VALUES (1, 'only in alpha')`)
	if got := count(t, dbs["alpha"], `SELECT count(*) FROM pg_tables WHERE tablename IN ('items', 'schema_migrations')`); got != 4 {
		t.Fatalf("%d items/schema_migrations tables in the database, want one of each per schema", got)
	}
}

// Instances of one service starting together all get their pool, although
// they race to create the schema.
func TestOpenConcurrentlyCreatesSchemaOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.URL(t)
	const n = 4
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := pg.Open(ctx, url, "payments")
			if err == nil {
				err = db.Close()
			}
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
}

// A service started just before its database comes up once the database
// does.
func TestOpenWaitsForTheServer(t *testing.T) {
	t.Parallel()
	info, name := testDatabase(t)
	addr := kittest.FreeAddr(t)
	const delay = 300 * time.Millisecond
	started := make(chan *proxy, 1)
	timer := time.AfterFunc(delay, func() {
		p, err := listenProxy(addr, serverAddr(info))
		if err != nil {
			t.Error(err)
		}
		started <- p
	})
	t.Cleanup(func() {
		if timer.Stop() {
			return // never started
		}
		if p := <-started; p != nil {
			p.stop()
		}
	})

	start := time.Now()
	db, err := pg.Open(testContext(t), dsnAt(info, addr, name), "late")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if waited := time.Since(start); waited < delay {
		t.Fatalf("Open returned after %v, before the server existed", waited)
	}
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
}

// Open stops waiting when its context ends, and says why.
func TestOpenGivesUpWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := contextWithTimeout(t, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := pg.Open(ctx, "postgres://kitshop@"+kittest.FreeAddr(t)+"/db?sslmode=disable", "users")
	if err == nil {
		t.Fatal("Open succeeded without a server")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Open took %v after a 300ms deadline", took)
	}
	if k := errs.KindOf(err); k != errs.Unavailable {
		t.Fatalf("kind %v, want Unavailable: %v", k, err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error does not say what went wrong: %v", err)
	}
}

// Retrying cannot create a missing database or role: Open reports them at
// once, with the server's error reachable and the password still hidden.
func TestOpenFailsFastOnPermanentErrors(t *testing.T) {
	t.Parallel()
	info := pgtest.Cluster(t)
	const secret = "S3cretPassw0rd"
	for _, tc := range []struct {
		name  string
		dsn   string
		class pqerror.Class
	}{
		{"missing database", dsnAt(info, serverAddr(info), "no_such_database"), pqerror.ClassInvalidCatalogName},
		{"missing role", "postgres://no_such_role:" + secret + "@" + serverAddr(info) + "/postgres?sslmode=disable",
			pqerror.ClassInvalidAuthorizationSpecification},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := pg.Open(testContext(t), tc.dsn, "users")
			e := pq.As(err)
			if e == nil || e.Code.Class() != tc.class {
				t.Fatalf("want a class %s error reachable with errors.As, got %v", tc.class, err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("Open retried a permanent error for %v", took)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestOpenRejectsEmptySchema(t *testing.T) {
	t.Parallel()
	_, err := pg.Open(testContext(t), pgtest.ClusterURL(t), "")
	if errs.ReasonOf(err) != pg.ReasonInvalidConfig {
		t.Fatalf("want %s, got %v", pg.ReasonInvalidConfig, err)
	}
}

// No error from Open, however it fails, shows the password; not in its
// text, and not in any error it wraps.
func TestOpenErrorsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	const secret = "S3cretPassw0rd"
	closed := kittest.FreeAddr(t)
	host, port, _ := strings.Cut(closed, ":")
	for _, tc := range []struct{ name, dsn string }{
		{"url unreachable", "postgres://kitshop:" + secret + "@" + closed + "/db?sslmode=disable"},
		{"url bad port", "postgres://kitshop:" + secret + "@127.0.0.1:notaport/db"},
		{"url bad escape", "postgres://kitshop:" + secret + "%zz@127.0.0.1/db"},
		{"url password param", "postgres://kitshop@" + closed + "/db?sslmode=disable&password=" + secret},
		{"kv unreachable", "host=" + host + " port=" + port + " user=kitshop password=" + secret + " sslmode=disable"},
		{"kv quoted", "host=" + host + " port=" + port + " user=kitshop password='" + secret + " x' sslmode=disable"},
		{"kv unterminated", "host=" + host + " user=kitshop password='" + secret},
		{"kv unquoted space", "host=" + host + " user=kitshop password=" + secret + " " + secret + "2"},
		{"kv bad port", "host=" + host + " port=nope user=kitshop password=" + secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := contextWithTimeout(t, 200*time.Millisecond)
			defer cancel()
			_, err := pg.Open(ctx, tc.dsn, "users")
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, e := range chain(err) {
				if strings.Contains(e.Error(), secret) {
					t.Fatalf("%T in the error chain shows the password: %v", e, e)
				}
			}
			if msg := fmt.Sprintf("%+v", err); strings.Contains(msg, secret) {
				t.Fatalf("formatted error shows the password: %s", msg)
			}
		})
	}
}

// chain lists err and everything it wraps, through Unwrap() error and
// Unwrap() []error.
func chain(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, chain(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, chain(e)...)
		}
	}
	return out
}
