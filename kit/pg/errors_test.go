package pg_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// Real violations from the server are recognised, with the constraint
// named, through wrapping, and never confused with one another.
func TestConstraintViolations(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := pgtest.DB(t, "catalog")
	if err := pg.Migrate(ctx, db, itemsMigrations(t)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `CREATE TABLE reviews (item_id bigint NOT NULL CONSTRAINT reviews_item_fk REFERENCES items (id))`)
	mustExec(t, db, `INSERT INTO items (id, name) VALUES (1, 'taken')`)

	type check func(error) (string, bool)
	checks := map[string]check{
		"unique": pg.IsUniqueViolation, "foreign key": pg.IsForeignKeyViolation, "check": pg.IsCheckViolation,
	}
	for _, tc := range []struct {
		kind, query, constraint string
	}{
		{"unique", `INSERT INTO items (id, name) VALUES (2, 'taken')`, "items_name_key"},
		{"foreign key", `INSERT INTO reviews (item_id) VALUES (42)`, "reviews_item_fk"},
		{"check", `INSERT INTO items (id, name, price_cents) VALUES (3, 'x', -1)`, "items_price_nonnegative"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			err := fmt.Errorf("store: %w", execErr(db, tc.query))
			for kind, is := range checks {
				constraint, ok := is(err)
				if ok != (kind == tc.kind) {
					t.Errorf("%s check says %v for a %s violation (%v)", kind, ok, tc.kind, err)
				}
				if ok && constraint != tc.constraint {
					t.Errorf("constraint %q, want %q", constraint, tc.constraint)
				}
			}
		})
	}
	for kind, is := range checks {
		if _, ok := is(nil); ok {
			t.Errorf("%s check says nil is a violation", kind)
		}
		if _, ok := is(errors.New("pq: duplicate key")); ok {
			t.Errorf("%s check matched a plain error", kind)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	domain := errs.New(errs.AlreadyExists, "EMAIL_TAKEN", "email taken")
	for _, tc := range []struct {
		name string
		err  error
		want errs.Kind
	}{
		{"serialization failure", &pq.Error{Code: pqerror.TRSerializationFailure}, errs.Unavailable},
		{"too many connections", &pq.Error{Code: pqerror.TooManyConnections}, errs.Unavailable},
		{"admin shutdown", fmt.Errorf("x: %w", &pq.Error{Code: pqerror.AdminShutdown}), errs.Unavailable},
		{"statement timeout", &pq.Error{Code: pqerror.QueryCanceled}, errs.DeadlineExceeded},
		{"syntax error", &pq.Error{Code: pqerror.SyntaxError}, errs.Internal},
		{"bad conn", sql.ErrConnDone, errs.Unavailable},
		{"plain", errors.New("boom"), errs.Internal},
	} {
		if got := errs.KindOf(pg.Classify(tc.err)); got != tc.want {
			t.Errorf("%s: kind %v, want %v", tc.name, got, tc.want)
		}
	}
	if pg.Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
	if got := pg.Classify(domain); got != domain {
		t.Errorf("a domain error was reclassified: %v", got)
	}
	if got := pg.Classify(context.Canceled); got != context.Canceled {
		t.Errorf("context.Canceled became %v", got)
	}
	if got := pg.Classify(&pq.Error{Code: pqerror.TRSerializationFailure}); !pg.IsRetryable(got) {
		t.Error("classification hid the cause")
	}
}

// Real failures classify as breakers need: a dead server is Unavailable,
// a statement timeout DeadlineExceeded.
func TestClassifyRealFailures(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	down, err := sql.Open("postgres", "postgres://kitshop@"+kittest.FreeAddr(t)+"/db?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if k := errs.KindOf(pg.Classify(down.PingContext(ctx))); k != errs.Unavailable {
		t.Errorf("refused connection: kind %v, want Unavailable", k)
	}

	db := pgtest.DB(t, "slow")
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET statement_timeout = '20ms'`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = conn.ExecContext(ctx, `SELECT pg_sleep(5)`)
	if k := errs.KindOf(pg.Classify(err)); k != errs.DeadlineExceeded || time.Since(start) > 3*time.Second {
		t.Errorf("statement timeout: kind %v after %v (%v), want DeadlineExceeded", k, time.Since(start), err)
	}
}
