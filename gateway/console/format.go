package console

import (
	"context"
	"errors"
	"strconv"
)

// sourceError says why a source failed, naming a timeout as such (an
// operator reads "timed out" faster than a wrapped context error).
func sourceError(ctx context.Context, err error) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return err.Error()
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// fmtCount shows a counter: whole numbers without a fraction.
func fmtCount(f float64) string {
	if f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return fmtFloat(f)
}
