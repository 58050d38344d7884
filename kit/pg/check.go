package pg

import (
	"context"
	"database/sql"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
)

// checkTimeout bounds a readiness probe whose context has no deadline.
const checkTimeout = 2 * time.Second

// Check is a readiness check for db: it passes while the server answers a
// round trip. Register it with health.Readiness.AddCheck("postgres", ...),
// so an instance that lost its database stops taking traffic.
func Check(db *sql.DB) health.Check {
	return func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, checkTimeout)
			defer cancel()
		}
		if err := db.PingContext(ctx); err != nil {
			return errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, err, "database unreachable")
		}
		return nil
	}
}
