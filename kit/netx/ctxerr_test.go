package netx_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/netx"
)

func TestContextError(t *testing.T) {
	live := context.Background()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), -1)
	defer cancel2()

	dbDown := errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, errors.New("pq: canceling statement due to user request"), "database unavailable")
	notFound := errs.New(errs.NotFound, errs.ReasonNotFound, "no such user")

	if got := netx.ContextError(live, dbDown, false); got != dbDown {
		t.Errorf("live ctx: %v, want the error unchanged", got)
	}
	if got := netx.ContextError(canceled, nil, false); got != nil {
		t.Errorf("nil error became %v", got)
	}
	if got := netx.ContextError(expired, notFound, false); got != notFound {
		t.Errorf("business error during an expired ctx: %v, want it unchanged", got)
	}

	e := errs.As(netx.ContextError(canceled, dbDown, false))
	if e.Kind != errs.Canceled || e.Reason != errs.ReasonCanceled || errs.IsInfrastructure(e) || !errors.Is(e, dbDown) {
		t.Errorf("canceled: %v (kind %v), want Canceled wrapping the cause", e, e.Kind)
	}

	e = errs.As(netx.ContextError(expired, dbDown, false))
	if e.Kind != errs.DeadlineExceeded || e.HTTPStatus() != 504 || !errs.IsInfrastructure(e) {
		t.Errorf("own deadline: %v (kind %v), want a DeadlineExceeded that counts against this server", e, e.Kind)
	}

	e = errs.As(netx.ContextError(expired, errs.Internalf(context.DeadlineExceeded, "query"), true))
	if e.Kind != errs.DeadlineExceeded || errs.IsInfrastructure(e) {
		t.Errorf("caller's deadline: %v (kind %v, infrastructure %v), want an Expected DeadlineExceeded",
			e, e.Kind, errs.IsInfrastructure(e))
	}
}
