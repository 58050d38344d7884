package mw_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
)

// observer records what a chain tells it, and what had been logged and
// counted by the time it heard of a failure.
type observer struct {
	entered, failed  int
	linesAtFailure   int
	countedAtFailure float64
	buf              *kittest.LogBuffer
	t                *testing.T
	counted          func() float64
}

func (o *observer) ChainEntered() { o.entered++ }
func (o *observer) ChainFailed() {
	o.failed++
	o.linesAtFailure = len(o.buf.Lines(o.t))
	o.countedAtFailure = o.counted()
}

func TestChainTellsItsObserverAfterReportingAFailure(t *testing.T) {
	var buf kittest.LogBuffer
	c, _ := newChain(t, &buf)
	c.Limit = 0
	e := c.Wrap("Get", func(_ context.Context, req any) (any, error) {
		if req == "bad" {
			return nil, errs.New(errs.NotFound, "ORDER_NOT_FOUND", "no such order")
		}
		return "ok", nil
	})
	o := &observer{buf: &buf, t: t, counted: func() float64 {
		return testutil.ToFloat64(c.RED.RequestsVec.WithLabelValues("orders", "endpoint", "Get", "NotFound"))
	}}
	ctx := mw.WithChainObserver(context.Background(), o)

	if _, err := e(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	if o.entered != 1 || o.failed != 0 {
		t.Fatalf("after a success: entered %d, failed %d; want 1, 0", o.entered, o.failed)
	}
	if _, err := e(ctx, "bad"); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("bad call = %v", err)
	}
	if o.entered != 2 || o.failed != 1 {
		t.Fatalf("after a failure: entered %d, failed %d; want 2, 1", o.entered, o.failed)
	}
	if lines := len(buf.Lines(t)); o.linesAtFailure != lines || o.countedAtFailure != 1 {
		t.Errorf("when told of the failure, %d of %d log lines written and %v failures counted; want all and 1 (reported first)",
			o.linesAtFailure, lines, o.countedAtFailure)
	}
	// Without an observer in ctx the chain works as before.
	if _, err := e(context.Background(), "good"); err != nil {
		t.Fatal(err)
	}
}
