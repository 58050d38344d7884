package pg_test

import (
	"database/sql"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// withFiles copies base and adds or replaces files.
func withFiles(t *testing.T, base fs.FS, files map[string]string) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	if base != nil {
		entries, err := fs.ReadDir(base, ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := fs.ReadFile(base, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	for name, body := range files {
		out[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return out
}

type appliedRow struct {
	version   int64
	name      string
	appliedAt time.Time
}

func applied(t *testing.T, db *sql.DB) []appliedRow {
	t.Helper()
	rows, err := db.Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []appliedRow
	for rows.Next() {
		var r appliedRow
		if err := rows.Scan(&r.version, &r.name, &r.appliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateAppliesOnceAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := pgtest.DB(t, "catalog")
	migs := itemsMigrations(t)
	if err := pg.Migrate(ctx, db, migs); err != nil {
		t.Fatal(err)
	}
	first := applied(t, db)
	if len(first) != 2 || first[0].name != "0001_create_items.sql" || first[1].name != "0002_add_price.sql" {
		t.Fatalf("applied %+v, want 0001 and 0002", first)
	}
	// Both statements of 0002 ran.
	mustExec(t, db, `INSERT INTO items (id, name, price_cents) VALUES (1, 'a', 5)`)
	if _, ok := pg.IsCheckViolation(execErr(db, `INSERT INTO items (id, name, price_cents) VALUES (2, 'b', -1)`)); !ok {
		t.Fatal("0002's CHECK constraint is missing")
	}

	// Again: nothing to do, nothing touched. A second run that re-applied
	// 0001 would fail (table exists); one that rewrote the rows would
	// change applied_at.
	if err := pg.Migrate(ctx, db, migs); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if again := applied(t, db); len(again) != 2 || !again[1].appliedAt.Equal(first[1].appliedAt) {
		t.Fatalf("second run changed schema_migrations: %+v -> %+v", first, again)
	}

	// A new migration applies alone, on top.
	more := withFiles(t, migs, map[string]string{"0003_add_sku.sql": `ALTER TABLE items ADD COLUMN sku text;`})
	if err := pg.Migrate(ctx, db, more); err != nil {
		t.Fatal(err)
	}
	if got := applied(t, db); len(got) != 3 || got[2].version != 3 || !got[0].appliedAt.Equal(first[0].appliedAt) {
		t.Fatalf("after adding 0003: %+v", got)
	}
	mustExec(t, db, `UPDATE items SET sku = 'A-1'`)
}

// Instances starting together apply each migration exactly once.
func TestMigrateConcurrentStartersApplyEachOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.URL(t)
	migs := withFiles(t, nil, map[string]string{
		"0001_log.sql": `CREATE TABLE log (note text NOT NULL);`,
		// The sleep holds the lock long enough for the others to pile up.
		"0002_two.sql":   `SELECT pg_sleep(0.2); INSERT INTO log VALUES ('two');`,
		"0003_three.sql": `INSERT INTO log VALUES ('three');`,
	})
	const instances = 4
	dbs := make([]*sql.DB, instances)
	for i := range dbs {
		db, err := pg.Open(ctx, url, "orders")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		dbs[i] = db
	}
	start := make(chan struct{})
	errc := make(chan error, instances)
	var wg sync.WaitGroup
	for _, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errc <- pg.Migrate(ctx, db, migs)
		}()
	}
	close(start)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	for _, note := range []string{"two", "three"} {
		if n := count(t, dbs[0], `SELECT count(*) FROM log WHERE note = $1`, note); n != 1 {
			t.Errorf("migration writing %q ran %d times, want once", note, n)
		}
	}
	if got := applied(t, dbs[0]); len(got) != 3 {
		t.Errorf("schema_migrations: %+v, want 3 rows", got)
	}
}

// A failing migration leaves nothing behind, is reported by name, and can
// be fixed and re-run.
func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := pgtest.DB(t, "users")
	broken := withFiles(t, nil, map[string]string{
		"0001_ok.sql":     `CREATE TABLE ok (id int);`,
		"0002_broken.sql": `CREATE TABLE half (id int); SELECT no_such_function();`,
	})
	err := pg.Migrate(ctx, db, broken)
	if err == nil || !strings.Contains(err.Error(), "0002_broken.sql") || errs.ReasonOf(err) != pg.ReasonMigration {
		t.Fatalf("want %s naming 0002_broken.sql, got %v", pg.ReasonMigration, err)
	}
	if pq.As(err) == nil {
		t.Errorf("the server's error is not reachable with errors.As: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_tables WHERE tablename = 'half'`); n != 0 {
		t.Fatal("half of the failed migration was committed")
	}
	if got := applied(t, db); len(got) != 1 {
		t.Fatalf("schema_migrations after failure: %+v, want only 0001", got)
	}
	fixed := withFiles(t, broken, map[string]string{"0002_broken.sql": `CREATE TABLE half (id int);`})
	if err := pg.Migrate(ctx, db, fixed); err != nil {
		t.Fatalf("fixed migration: %v", err)
	}
}

// Editing an applied migration, or running a binary that lacks one the
// database has, is refused: code and schema would disagree.
func TestMigrateRefusesMismatches(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := pgtest.DB(t, "products")
	migs := itemsMigrations(t)
	if err := pg.Migrate(ctx, db, migs); err != nil {
		t.Fatal(err)
	}

	edited := withFiles(t, migs, map[string]string{"0001_create_items.sql": `CREATE TABLE items (id bigint);`})
	err := pg.Migrate(ctx, db, edited)
	if err == nil || !strings.Contains(err.Error(), "0001_create_items.sql was changed") || errs.ReasonOf(err) != pg.ReasonMigration {
		t.Fatalf("edited migration: got %v", err)
	}

	older := withFiles(t, nil, map[string]string{"0001_create_items.sql": readFile(t, migs, "0001_create_items.sql")})
	err = pg.Migrate(ctx, db, older)
	if err == nil || !strings.Contains(err.Error(), "0002_add_price.sql") || errs.ReasonOf(err) != pg.ReasonMigration {
		t.Fatalf("unknown applied migration: got %v", err)
	}
}

func TestMigrateRejectsBadFiles(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := pgtest.DB(t, "users")
	for name, files := range map[string]map[string]string{
		"no version":        {"create.sql": "SELECT 1;"},
		"zero version":      {"0000_zero.sql": "SELECT 1;"},
		"duplicate version": {"0001_a.sql": "SELECT 1;", "01_b.sql": "SELECT 1;"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := pg.Migrate(ctx, db, withFiles(t, nil, files)); err == nil {
				t.Fatal("Migrate accepted it")
			}
			if n := count(t, db, `SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'`); n != 0 {
				t.Fatal("Migrate touched the database before validating its files")
			}
		})
	}
}

// A pool whose search_path names no existing schema has nowhere to put
// schema_migrations; Migrate says so instead of guessing.
func TestMigrateNeedsASchema(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	if strings.HasPrefix(u, "postgres") {
		u += "&search_path=nowhere"
	} else {
		u += " search_path=nowhere"
	}
	c, err := pq.NewConnector(u)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	err = pg.Migrate(testContext(t), db, itemsMigrations(t))
	if err == nil || !strings.Contains(err.Error(), "pg.Open") {
		t.Fatalf("got %v", err)
	}
}

func readFile(t *testing.T, fsys fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func execErr(db *sql.DB, query string, args ...any) error {
	_, err := db.Exec(query, args...)
	return err
}
