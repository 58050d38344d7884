package boot

import (
	"context"
	"database/sql"
	"io/fs"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/pg"
)

// OpenStore gives a service its store: the in-memory one when no database
// is configured (the embedded default), else the Postgres one, built by
// postgres on the service's own schema with migrations from migrations
// applied. The pool is checked by readiness and closed last at shutdown.
// Either way the choice is logged.
func OpenStore[S any](ctx context.Context, p *Process, migrations fs.FS, memory func() S, postgres func(*sql.DB) S) (S, error) {
	if p.Config.UsesMemoryStore() {
		_ = level.Info(p.Logger).Log("msg", "using the in-memory store (set DATABASE_URL for Postgres)")
		return memory(), nil
	}
	_ = level.Info(p.Logger).Log("msg", "using Postgres", "database", pg.Redact(p.Config.DatabaseURL), "schema", p.Config.Name)
	db, err := pg.OpenMigrated(ctx, p.Config.DatabaseURL, p.Config.Name, migrations)
	if err != nil {
		var zero S
		return zero, err
	}
	p.OnClose(db)
	p.Ready.AddCheck("postgres", pg.Check(db))
	return postgres(db), nil
}
