package boot

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/pg"
)

// OpenStore gives a service its store: the in-memory one when no database
// is configured (the embedded default), else the Postgres one, built by
// postgres on the service's own schema with migrations from migrations
// applied. The pool is checked by readiness and closed last at shutdown.
// Either way the choice is logged.
//
// Waiting for Postgres is bounded by Config.StartupTimeout
// (KITSHOP_STARTUP_TIMEOUT): every failed attempt is logged, and when time
// is up the error says what was tried and why it failed, with the
// password masked, so that the process exits non-zero with a message
// instead of hanging.
func OpenStore[S any](ctx context.Context, p *Process, migrations fs.FS, memory func() S, postgres func(*sql.DB) S) (S, error) {
	var zero S
	if p.Config.UsesMemoryStore() {
		_ = level.Info(p.Logger).Log("msg", "using the in-memory store (set DATABASE_URL for Postgres)")
		return memory(), nil
	}
	timeout := p.Config.StartupTimeout
	if timeout <= 0 {
		timeout = config.DefaultStartupTimeout
	}
	_ = level.Info(p.Logger).Log("msg", "using Postgres", "database", pg.Redact(p.Config.DatabaseURL),
		"schema", p.Config.Name, "startup_timeout", timeout.String())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db, err := pg.OpenMigrated(ctx, p.Config.DatabaseURL, p.Config.Name, migrations,
		pg.WithLogger(log.With(p.Logger, "component", "postgres")))
	switch {
	case err != nil && ctx.Err() != nil:
		// pg's errors are already redacted; this names the setting to
		// change when the database is merely slow to come up.
		return zero, fmt.Errorf("postgres not ready within the start-up timeout of %v (-startup-timeout, KITSHOP_STARTUP_TIMEOUT): %w", timeout, err)
	case err != nil:
		return zero, fmt.Errorf("postgres: %w", err)
	}
	p.OnClose(db)
	// The pool's in-use, idle and wait figures, as go_sql_* with
	// db_name=<service>.
	if err := metrics.RegisterDB(p.Metrics, db, p.Config.Name); err != nil {
		return zero, fmt.Errorf("postgres pool metrics: %w", err)
	}
	p.Ready.AddCheck("postgres", pg.Check(db))
	return postgres(db), nil
}
