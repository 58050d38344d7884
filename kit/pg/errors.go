package pg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/kitshop/kitshop/kit/errs"
)

// IsUniqueViolation reports whether err (or any error it wraps) is a
// unique_violation (23505), and names the violated constraint, so a store
// can tell "email taken" from "sku taken".
func IsUniqueViolation(err error) (constraint string, ok bool) {
	return violation(err, pqerror.UniqueViolation)
}

// IsForeignKeyViolation reports a foreign_key_violation (23503) and the
// violated constraint.
func IsForeignKeyViolation(err error) (constraint string, ok bool) {
	return violation(err, pqerror.ForeignKeyViolation)
}

// IsCheckViolation reports a check_violation (23514) and the violated
// constraint.
func IsCheckViolation(err error) (constraint string, ok bool) {
	return violation(err, pqerror.CheckViolation)
}

func violation(err error, code pqerror.Code) (string, bool) {
	var e *pq.Error
	if errors.As(err, &e) && e.Code == code {
		return e.Constraint, true
	}
	return "", false
}

// IsRetryable reports a serialization_failure (40001) or deadlock_detected
// (40P01): the transaction lost a race, and running it again from the start
// is the documented remedy. InTx does that itself.
func IsRetryable(err error) bool {
	var e *pq.Error
	return errors.As(err, &e) &&
		(e.Code == pqerror.TRSerializationFailure || e.Code == pqerror.TRDeadlockDetected)
}

// Classify turns a database error into a kit/errs error so breakers and
// retries treat it right: connection trouble, server shutdown, overload and
// lost serialization races become Unavailable (infrastructure, worth
// retrying elsewhere), a statement timeout DeadlineExceeded, anything else
// Internal. Errors that are already classified and context errors pass
// through unchanged, and nil stays nil.
//
// Classify knows nothing of the domain: a store maps sql.ErrNoRows and
// constraint violations to its own errors (NotFound, EMAIL_TAKEN, ...)
// before falling back to Classify.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var ke *errs.Error
	if errors.As(err, &ke) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if unavailable(err) {
		return errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, err, "database unavailable")
	}
	if e := pq.As(err, pqerror.QueryCanceled); e != nil {
		return errs.Wrap(errs.DeadlineExceeded, errs.ReasonDeadline, err, "database statement timed out")
	}
	return errs.Internalf(err, "database")
}

func unavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || IsRetryable(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var e *pq.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code.Class() {
	case pqerror.ClassConnectionException, pqerror.ClassInsufficientResources:
		return true
	}
	switch e.Code {
	case pqerror.AdminShutdown, pqerror.CrashShutdown, pqerror.CannotConnectNow:
		return true
	}
	return false
}
