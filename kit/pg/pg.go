// Package pg is kitshop's Postgres plumbing on lib/pq and database/sql:
// opening a pool bound to one service's schema, embedded migrations,
// transactions that retry on serialization failures, and helpers that
// recognise constraint violations.
//
// Each service owns one schema named after it ("users", "orders", ...).
// One DATABASE_URL can therefore serve every service, while each pool's
// search_path keeps a service inside its own tables.
//
// Statements with parameters cost one round trip each (binary-parameter
// mode, see Open: pass JSON for a jsonb column as a string, not []byte)
// and are kept prepared per connection (stmtcache.go), so that Postgres
// neither parses nor, once it settles on a generic plan, plans them
// again. A query whose best plan depends on its parameter values (a
// range condition under EXISTS or a small LIMIT) should be written so
// that any plan is cheap, or it may turn into a scan under a generic plan.
package pg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReasonInvalidConfig marks a connection string or schema name that cannot
// work; retrying will not help.
const ReasonInvalidConfig = "INVALID_DATABASE_CONFIG"

// Pool limits Open applies. Callers with other needs adjust the returned
// *sql.DB (SetMaxOpenConns, ...) after Open.
const (
	// MaxOpenConns bounds connections per process. Several services and
	// several instances of each share one server (max_connections is 100 by
	// default), so each pool stays small; Postgres throughput does not grow
	// past a few connections per core anyway.
	MaxOpenConns = 10
	// MaxIdleConns keeps the whole pool warm: with fewer idle slots than
	// open ones, every burst above the idle count closes connections as
	// they are returned and dials new ones for the next request, and a
	// Postgres connection is a forked backend (measured: at 32 concurrent
	// checkouts, churn cost more CPU than the queries). ConnMaxIdleTime
	// still shrinks a pool nobody uses.
	MaxIdleConns = MaxOpenConns
	// ConnMaxLifetime recycles connections so that server-side memory bloat,
	// failovers behind a DNS name and pooler rebalancing are picked up.
	ConnMaxLifetime = 30 * time.Minute
	// ConnMaxIdleTime returns connections nobody used for a while.
	ConnMaxIdleTime = 5 * time.Minute
	// ConnectTimeout bounds one dial when the connection string sets none,
	// so a black-holed host does not hang a request until its deadline.
	ConnectTimeout = 10 * time.Second
)

// Option configures Open.
type Option func(*options)

type options struct {
	logger log.Logger
	tracer *zipkin.Tracer // see WithTracer
}

// WithLogger makes Open log each failed attempt to reach the server while
// it waits, with the connection string redacted.
func WithLogger(l log.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// Ping retry back-off bounds.
const (
	firstRetry = 100 * time.Millisecond
	maxRetry   = 2 * time.Second
)

// Open returns a pool for dsn (a postgres:// URL or a key=value string)
// whose every connection has search_path set to schema, and makes sure the
// schema exists. Any search_path in dsn is overridden. search_path travels
// in the startup packet, so a pooler in between (PgBouncer) must be set up
// to accept it rather than reject it as an unknown startup parameter.
//
// Open waits for the server: it pings with back-off until the server
// answers or ctx is done, so a service started just before its database
// still comes up. Give ctx a deadline. Errors that retrying cannot fix
// (bad credentials, missing database, bad connection string) return at once.
//
// Errors are classified with kit/errs and never contain the password.
func Open(ctx context.Context, dsn, schema string, opts ...Option) (*sql.DB, error) {
	o := options{logger: log.NewNopLogger()}
	for _, opt := range opts {
		opt(&o)
	}
	if schema == "" {
		return nil, errs.New(errs.InvalidArgument, ReasonInvalidConfig, "pg: schema name is empty")
	}
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, errs.Wrap(errs.InvalidArgument, ReasonInvalidConfig,
			parseError(err, dsn), "pg: invalid connection string "+Redact(dsn))
	}
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	// lib/pq sends keys it does not know as run-time parameters in the
	// startup packet, so the server applies search_path before the first
	// query on every connection the pool ever opens. Quoting keeps the
	// schema name literal (case, punctuation).
	cfg.Runtime["search_path"] = pq.QuoteIdentifier(schema)
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = "kitshop-" + schema
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = ConnectTimeout
	}
	// With parameters, lib/pq otherwise prepares each statement and waits
	// for the server's description of it before sending the values: two
	// round trips per statement. Binary-parameter mode sends parse, bind
	// and execute at once, one round trip (measured: most of a checkout's
	// database time is round trips of small statements). Its one
	// difference: a []byte argument travels in binary format, which is
	// right for bytea, and for text and json (their binary form is their
	// text), but not for jsonb (which wants a version byte): pass JSON
	// for a jsonb column as a string.
	cfg.BinaryParameters = true
	connector, err := newConnector(cfg)
	if err != nil {
		return nil, errs.Wrap(errs.InvalidArgument, ReasonInvalidConfig,
			parseError(err, dsn), "pg: invalid connection string "+Redact(dsn))
	}
	connector.tracer = o.tracer
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxIdleConns)
	db.SetConnMaxLifetime(ConnMaxLifetime)
	db.SetConnMaxIdleTime(ConnMaxIdleTime)

	if err := waitReady(ctx, db, o.logger, dsn, cfg.ConnectTimeout); err != nil {
		_ = db.Close()
		return nil, errs.Wrap(errs.Unavailable, errs.ReasonUnavailable,
			&redactedError{msg: scrub(err.Error(), dsn), cause: err},
			"pg: cannot reach database "+Redact(dsn))
	}
	// From now on a refused connection is a restart to ride out; before,
	// waitReady's own retries (logged, one per attempt) are the right wait.
	connector.reached.Store(true)
	if err := ensureSchema(ctx, db, schema); err != nil {
		_ = db.Close()
		e := errs.As(Classify(err))
		return nil, errs.Wrap(e.Kind, e.Reason,
			&redactedError{msg: scrub(err.Error(), dsn), cause: err},
			fmt.Sprintf("pg: cannot create schema %s in %s", pq.QuoteIdentifier(schema), Redact(dsn)))
	}
	return db, nil
}

// parseError reduces a connection-string parse error to text that cannot
// hold the password. net/url quotes the whole URL in its errors, so only the
// inner reason is kept, and the rest is scrubbed. The cause is not kept:
// printing it would undo the scrubbing.
func parseError(err error, dsn string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.New(scrub(err.Error(), dsn))
}

// waitReady pings until the server answers, ctx is done, or the answer says
// retrying is pointless. Each attempt is bounded by attemptTimeout, so a
// server that accepts connections but never answers is retried and
// reported like one that refuses them. Every failed attempt is logged
// (redacted), so an operator watching a service that does not come up
// sees what it is waiting for.
func waitReady(ctx context.Context, db *sql.DB, logger log.Logger, dsn string, attemptTimeout time.Duration) error {
	delay := firstRetry
	var last error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := db.PingContext(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				_ = level.Info(logger).Log("msg", "database reachable", "database", Redact(dsn), "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v: %w", attemptTimeout, err)
		}
		// Keep the last error that is about the server, not about our
		// deadline: "connection refused" explains, "i/o timeout" does not.
		if !ctxOver(ctx) || last == nil {
			last = err
		}
		if permanent(err) {
			return err
		}
		if ctxOver(ctx) {
			return gaveUp(ctx, attempt, last)
		}
		_ = level.Warn(logger).Log("msg", "database not reachable yet, retrying", "database", Redact(dsn),
			"attempt", attempt, "retry_in", delay.String(), "err", scrub(err.Error(), dsn))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return gaveUp(ctx, attempt, last)
		case <-t.C:
		}
		delay = min(2*delay, maxRetry)
	}
}

// gaveUp says how waiting for the server ended: ctx's error (a deadline
// that has passed counts, even a moment before ctx says so) and the last
// thing the server, or its absence, told us.
func gaveUp(ctx context.Context, attempts int, last error) error {
	why := ctx.Err()
	if why == nil {
		why = context.DeadlineExceeded
	}
	return fmt.Errorf("gave up after %d attempts (%w): %w", attempts, why, last)
}

// ctxOver reports whether ctx is done or its deadline has passed; the
// latter can be true a moment before ctx.Err() says so, while a dial that
// hit the deadline is already returning.
func ctxOver(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// permanent reports connection failures that waiting cannot cure.
func permanent(err error) bool {
	if errors.Is(err, pq.ErrSSLNotSupported) {
		return true
	}
	e := pq.As(err)
	if e == nil {
		return false
	}
	return e.Code.Class() == pqerror.ClassInvalidAuthorizationSpecification || // bad user or password
		e.Code == pqerror.InvalidCatalogName // database does not exist
}

// ensureSchema creates schema unless it exists. It looks first so that a
// role that may not CREATE in the database can still use a schema an
// operator made for it (CREATE SCHEMA IF NOT EXISTS checks the privilege
// before existence).
func ensureSchema(ctx context.Context, db *sql.DB, schema string) error {
	var exists bool
	if err := db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, schema,
	).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pq.QuoteIdentifier(schema))
	if _, dup := IsUniqueViolation(err); dup {
		// Two starters raced past IF NOT EXISTS; the catalog's unique index
		// caught the loser. The schema exists, which is all we wanted.
		return nil
	}
	return err
}
