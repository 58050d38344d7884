package pg

import (
	"context"
	"database/sql"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
)

// CheckTimeout bounds one readiness probe of the database, whatever the
// caller's context allows: a database that needs longer for a trivial
// round trip is not usable, and probes (Kubernetes' default timeout is
// 1 s, kit/health's 1.5 s) need an answer before they give up themselves.
const CheckTimeout = time.Second

// Check is a readiness check for db: it passes while the server answers a
// round trip within CheckTimeout. Register it with
// health.Readiness.AddCheck("postgres", ...), so an instance that lost its
// database stops taking traffic. A frozen server fails it in time too:
// the pool's connections give up on a server that does not answer (see
// conn.go).
func Check(db *sql.DB) health.Check {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			return errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, err, "database unreachable")
		}
		return nil
	}
}
