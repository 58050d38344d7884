package netx

import (
	"context"
	"errors"

	"github.com/kitshop/kitshop/kit/errs"
)

// ContextError classifies err, the failure of work done for a request
// whose context is ctx. When ctx is done and err is of an infrastructure
// kind (Internal, Unavailable, DeadlineExceeded), the failure is the
// consequence of the request ending, whatever the work in progress made
// of it (a driver's "canceling statement", a pool's Unavailable), and
// says nothing about this server or its dependencies. It is then replaced
// by ctx's own verdict, keeping err as the cause for the logs:
//
//   - the caller went away: Canceled (499 over HTTP, never an
//     infrastructure failure);
//   - the deadline passed: DeadlineExceeded (504). callersDeadline says
//     whose deadline it was. When it was the caller's own (a gRPC
//     deadline it sent), the error is marked Expected, so breakers and
//     retry budgets do not hold it against this server; when it was this
//     server's own budget for the request, it is a genuine slowness of
//     this server and stays a plain DeadlineExceeded.
//
// Business errors (NotFound, InvalidArgument, ...) are returned unchanged
// even when ctx ended meanwhile: they are real answers. So are nil and
// errors returned while ctx is still live.
func ContextError(ctx context.Context, err error, callersDeadline bool) error {
	if err == nil {
		return nil
	}
	cerr := ctx.Err()
	if cerr == nil || !errs.KindOf(err).Infrastructure() {
		return err
	}
	if e := errs.As(err); e.Kind == errs.DeadlineExceeded && (e.Expected || !callersDeadline) {
		return err // already classified as such
	}
	if errors.Is(cerr, context.DeadlineExceeded) {
		e := errs.Wrap(errs.DeadlineExceeded, errs.ReasonDeadline, err, "deadline exceeded")
		if callersDeadline {
			e.Expected = true
		}
		return e
	}
	return errs.Wrap(errs.Canceled, errs.ReasonCanceled, err, "request canceled")
}
