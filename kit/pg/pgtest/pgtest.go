// Package pgtest gives tests a real Postgres.
//
// With DATABASE_URL set, tests use that server (the role needs CREATEDB).
// Otherwise the first test that asks starts a throwaway cluster from the
// local PostgreSQL binaries (initdb and postgres, found on PATH or under
// /usr/lib/postgresql/*/bin) on a free port of 127.0.0.1, tuned for speed
// over durability. As PostgreSQL refuses to run as root, a root test
// process runs the cluster as the "postgres" system user. Missing binaries
// fail the test with a message saying what is missing; nothing is skipped.
//
// The cluster is shared by all tests of the package's test binary, and
// every URL or DB call gets a fresh database, dropped when the test ends,
// so tests may run in parallel without seeing each other's rows.
//
// Use Main in TestMain so the cluster stops and its files go away when the
// tests are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// A package that forgets it does not leak the server: postgres is started
// with a parent-death signal, so it shuts down when the test binary exits,
// and the next pgtest run removes data directories whose owner has died.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/pg"
)

// Info describes the server tests run against.
type Info struct {
	Host string
	Port int
	User string
	// Password is empty for the throwaway cluster, which trusts local
	// connections.
	Password string
	// URL connects to the server's maintenance database ("postgres" for
	// the throwaway cluster, DATABASE_URL's own database otherwise). Tests
	// that write should use URL or DB instead, which isolate them.
	URL string
	// External is true when the server comes from DATABASE_URL.
	External bool
}

// How long starting the cluster, and creating or dropping one database,
// may take before the test fails. Generous: the CI box may be busy.
const (
	startTimeout = 60 * time.Second
	opTimeout    = 30 * time.Second
)

var (
	mu      sync.Mutex
	current *server
	// startErr is sticky: a cluster that failed to start once fails every
	// later test with the same message instead of retrying for each.
	startErr error
)

// server is the shared server plus an admin pool used to create and drop
// the per-test databases.
type server struct {
	info  Info
	admin *sql.DB
	// dbURL builds a connection string for one database of the server.
	dbURL func(name string) string
	local *cluster // nil for an external server
}

// Main runs the package's tests and then stops the throwaway cluster (if
// one was started) and removes its files, after running cleanups (such as
// kittest.RemoveBuilds). Call it from TestMain; it does not return.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Cluster returns the shared server, starting it on first use.
func Cluster(tb testing.TB) Info {
	tb.Helper()
	return get(tb).info
}

// ClusterURL is Cluster(tb).URL, for tools such as pgbench that need the
// server rather than an isolated database.
func ClusterURL(tb testing.TB) string {
	tb.Helper()
	return get(tb).info.URL
}

// URL creates a fresh, empty database for the test and returns a
// connection string for it. The database is dropped, along with any
// connections still using it, when the test and its subtests finish.
func URL(tb testing.TB) string {
	tb.Helper()
	s := get(tb)
	name := "test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
		tb.Fatalf("pgtest: creating database %s on %s: %v", name, pg.Redact(s.info.URL), err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		// FORCE ends sessions a test left open (a pool it did not close),
		// which would otherwise make DROP fail.
		if _, err := s.admin.ExecContext(ctx,
			`DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(name)+` WITH (FORCE)`); err != nil {
			tb.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return s.dbURL(name)
}

// DB opens, with pg.Open, a pool on a fresh database (see URL) whose
// connections use schema. The pool is closed when the test finishes.
func DB(tb testing.TB, schema string) *sql.DB {
	tb.Helper()
	u := URL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	db, err := pg.Open(ctx, u, schema)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	// Registered after URL's cleanup, so it runs before it: the pool closes
	// before its database is dropped.
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func get(tb testing.TB) *server {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if current == nil && startErr == nil {
		current, startErr = start()
	}
	if startErr != nil {
		tb.Fatalf("pgtest: %v", startErr)
	}
	return current
}

func start() (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		return external(ctx, dsn)
	}
	c, err := startCluster(ctx)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/", c.port)
	s := &server{
		info: Info{Host: "127.0.0.1", Port: c.port, User: "postgres",
			URL: base + "postgres?sslmode=disable"},
		dbURL: func(name string) string { return base + name + "?sslmode=disable" },
		local: c,
	}
	if s.admin, err = openAdmin(ctx, s.info.URL); err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("connecting to the test cluster: %w", err)
	}
	return s, nil
}

// external uses the server DATABASE_URL names.
func external(ctx context.Context, dsn string) (*server, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: %w", pg.Redact(dsn), err)
	}
	s := &server{
		info: Info{Host: cfg.Host, Port: int(cfg.Port), User: cfg.User, Password: cfg.Password,
			URL: dsn, External: true},
		dbURL: func(name string) string { return withDatabase(dsn, name) },
	}
	if s.admin, err = openAdmin(ctx, dsn); err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: %w", pg.Redact(dsn), err)
	}
	return s, nil
}

// withDatabase points dsn at database name, keeping every other setting.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	// In key=value strings the last occurrence of a key wins.
	return strings.TrimSpace(dsn) + " dbname=" + name
}

// openAdmin opens a small pool and waits (bounded by ctx) until the server
// answers.
func openAdmin(ctx context.Context, dsn string) (*sql.DB, error) {
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	for {
		err = db.PingContext(ctx)
		if err == nil {
			return db, nil
		}
		select {
		case <-ctx.Done():
			_ = db.Close()
			return nil, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func stop() error {
	mu.Lock()
	defer mu.Unlock()
	s := current
	current, startErr = nil, nil
	if s == nil {
		return nil
	}
	_ = s.admin.Close()
	if s.local != nil {
		return s.local.stop()
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
