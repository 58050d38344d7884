package pg

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReasonMigration marks a migration set that does not match the database:
// a failing migration, an edited one, or one the binary does not know.
const ReasonMigration = "MIGRATION_FAILED"

// migrationFile is NNNN_description.sql; the number is the version.
var migrationFile = regexp.MustCompile(`^([0-9]+)_([^/]+)\.sql$`)

type migration struct {
	version  int64
	name     string // the file name, which is what operators grep for
	body     string
	checksum string
}

type appliedMigration struct {
	name     string
	checksum string
}

// Migrate applies the migrations in the root of fsys that the database has
// not seen yet, in version order. Callers embed them:
//
//	//go:embed migrations/*.sql
//	var migrations embed.FS
//	sub, _ := fs.Sub(migrations, "migrations")
//	err := pg.Migrate(ctx, db, sub)
//
// Files are named NNNN_description.sql (NNNN > 0, unique); other files
// are ignored, and a .sql file with another name is an error, as it is
// probably a typo that would otherwise be skipped silently.
//
// Progress is kept in schema_migrations inside the connection's schema (the
// first schema of search_path, as set by Open). Each migration runs in a
// transaction together with its tracking row, so it applies entirely or not
// at all; statements that cannot run in a transaction (CREATE INDEX
// CONCURRENTLY) are therefore not supported. A transaction-scoped advisory
// lock keyed on the schema serializes concurrent starters: when several
// instances start at once, each migration is applied by exactly one.
//
// Migrate refuses to go on when an applied migration's file has changed
// since (checksum mismatch) or when the database has a version this binary
// does not know: both mean code and schema disagree, which is better found
// at start-up than in a failing query.
func Migrate(ctx context.Context, db *sql.DB, fsys fs.FS) error {
	migs, err := loadMigrations(fsys)
	if err != nil {
		return errs.Wrap(errs.Internal, ReasonMigration, err, "pg: loading migrations")
	}
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fail(err, "pg: migrate: reading current schema")
	}
	if !schema.Valid {
		return errs.New(errs.Internal, ReasonMigration,
			"pg: migrate: no schema of search_path exists; open the pool with pg.Open")
	}
	m := migrator{
		db:    db,
		table: pq.QuoteIdentifier(schema.String) + ".schema_migrations",
		lock:  lockKey(schema.String),
	}

	var pending []migration
	err = m.locked(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+m.table+` (
			version    bigint PRIMARY KEY,
			name       text NOT NULL,
			checksum   text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("creating %s: %w", m.table, err)
		}
		applied, err := m.applied(ctx, tx)
		if err != nil {
			return err
		}
		if pending, err = plan(migs, applied); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fail(err, "pg: migrate "+schema.String)
	}
	for _, mig := range pending {
		if err := m.apply(ctx, mig); err != nil {
			return fail(err, "pg: migrate "+schema.String)
		}
	}
	return nil
}

type migrator struct {
	db    *sql.DB
	table string
	lock  int64
}

// locked runs fn in a transaction that first takes the schema's migration
// lock. The lock is transaction-scoped, so a crashed starter can never
// leave it held.
func (m migrator) locked(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return InTx(ctx, m.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, m.lock); err != nil {
			return fmt.Errorf("taking migration lock: %w", err)
		}
		return fn(tx)
	})
}

func (m migrator) applied(ctx context.Context, tx *sql.Tx) (map[int64]appliedMigration, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version, name, checksum FROM `+m.table)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.table, err)
	}
	defer rows.Close()
	out := map[int64]appliedMigration{}
	for rows.Next() {
		var v int64
		var a appliedMigration
		if err := rows.Scan(&v, &a.name, &a.checksum); err != nil {
			return nil, err
		}
		out[v] = a
	}
	return out, rows.Err()
}

// apply runs one migration unless a concurrent starter applied it between
// planning and now; the check happens under the lock, so it is decisive.
func (m migrator) apply(ctx context.Context, mig migration) error {
	return m.locked(ctx, func(tx *sql.Tx) error {
		var sum string
		err := tx.QueryRowContext(ctx, `SELECT checksum FROM `+m.table+` WHERE version = $1`, mig.version).Scan(&sum)
		switch {
		case err == nil:
			return checkSum(mig, sum)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// No arguments: lib/pq then uses the simple query protocol, which
		// accepts a file of several statements.
		if _, err := tx.ExecContext(ctx, mig.body); err != nil {
			return fmt.Errorf("applying %s: %w", mig.name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO `+m.table+` (version, name, checksum) VALUES ($1, $2, $3)`,
			mig.version, mig.name, mig.checksum); err != nil {
			return fmt.Errorf("recording %s: %w", mig.name, err)
		}
		return nil
	})
}

// plan checks the applied set against the files and returns what is left.
func plan(migs []migration, applied map[int64]appliedMigration) ([]migration, error) {
	known := make(map[int64]bool, len(migs))
	var pending []migration
	for _, mig := range migs {
		known[mig.version] = true
		a, ok := applied[mig.version]
		if !ok {
			pending = append(pending, mig)
			continue
		}
		if err := checkSum(mig, a.checksum); err != nil {
			return nil, err
		}
	}
	var unknown []string
	for v, a := range applied {
		if !known[v] {
			unknown = append(unknown, a.name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("database has migrations this binary does not know: %s "+
			"(is an older build running against a newer schema?)", strings.Join(unknown, ", "))
	}
	return pending, nil
}

func checkSum(mig migration, applied string) error {
	if applied != mig.checksum {
		return fmt.Errorf("migration %s was changed after it was applied (checksum %.12s in the database, %.12s in the file); "+
			"add a new migration instead of editing an applied one", mig.name, applied, mig.checksum)
	}
	return nil
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var migs []migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		match := migrationFile.FindStringSubmatch(e.Name())
		if match == nil {
			return nil, fmt.Errorf("migration file %q is not named NNNN_description.sql", e.Name())
		}
		v, err := strconv.ParseInt(match[1], 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %q: version must be a positive 64-bit number", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration files %q and %q share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		migs = append(migs, migration{
			version:  v,
			name:     e.Name(),
			body:     string(body),
			checksum: hex.EncodeToString(sum[:]),
		})
	}
	slices.SortFunc(migs, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return migs, nil
}

// lockKey derives the advisory lock id from the schema, so services sharing
// one database migrate in parallel while instances of one service queue.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("kitshop/pg.Migrate\x00" + schema))
	return int64(h.Sum64())
}

// fail classifies a migration error: infrastructure trouble stays
// retryable (Unavailable), everything else is a migration failure.
func fail(err error, msg string) error {
	if e := errs.As(Classify(err)); e.Kind != errs.Internal {
		return errs.Wrap(e.Kind, e.Reason, err, msg)
	}
	return errs.Wrap(errs.Internal, ReasonMigration, err, msg)
}

// OpenMigrated opens the service's schema (see Open) and applies the
// migrations in fsys's "migrations" folder, as a service's
// `//go:embed migrations/*.sql` gives them. It is how every store opens.
func OpenMigrated(ctx context.Context, dsn, schema string, fsys fs.FS, opts ...Option) (*sql.DB, error) {
	db, err := Open(ctx, dsn, schema, opts...)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(fsys, "migrations")
	if err == nil {
		err = Migrate(ctx, db, sub)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}
