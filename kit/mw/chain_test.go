package mw_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

func newChain(t *testing.T, buf *kittest.LogBuffer) (mw.Chain, *kittest.SpanRecorder) {
	t.Helper()
	red, err := metrics.NewRED(prometheus.NewRegistry(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	tracer, rec := kittest.NewTracer(t, "")
	return mw.Chain{
		Service: "orders",
		Logger:  logx.New(buf, "orders"),
		Tracer:  tracer,
		RED:     red,
		Limit:   1e-6, // effectively: only the burst
		Burst:   2,
		Breaker: mw.BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: time.Hour},
	}, rec
}

func TestChainShedCallsAreLoggedCountedAndTraced(t *testing.T) {
	var buf kittest.LogBuffer
	c, rec := newChain(t, &buf)
	double := typed.Endpoint(func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	e := c.Wrap("Double", double)

	for i := 0; i < 2; i++ {
		if v, err := typed.Call[int, int](context.Background(), e, 21); err != nil || v != 42 {
			t.Fatalf("call %d = %v, %v", i, v, err)
		}
	}
	_, err := e(context.Background(), 1)
	if errs.ReasonOf(err) != errs.ReasonRateLimited {
		t.Fatalf("third call = %v, want RATE_LIMITED", err)
	}
	if v := testutil.ToFloat64(c.RED.RequestsVec.WithLabelValues("orders", "endpoint", "Double", "ResourceExhausted")); v != 1 {
		t.Errorf("rate-limited calls counted = %v, want 1", v)
	}
	lines := buf.Lines(t)
	if len(lines) != 3 || lines[2]["err_reason"] != errs.ReasonRateLimited {
		t.Errorf("log lines = %v, want 3 with the last RATE_LIMITED", lines)
	}
	for _, l := range lines {
		if l["trace_id"] == nil {
			t.Errorf("log line without trace_id: %v", l)
		}
	}
	if n := len(rec.Spans()); n != 3 {
		t.Errorf("%d spans, want one per call", n)
	}

	// Each method has its own limiter.
	other := c.Wrap("Other", double)
	if _, err := other(context.Background(), 1); err != nil {
		t.Errorf("a different method was limited: %v", err)
	}
}

func TestChainBreakerPerMethod(t *testing.T) {
	var buf kittest.LogBuffer
	c, _ := newChain(t, &buf)
	c.Limit = 0 // no rate limit
	calls := 0
	failing := c.Wrap("Fail", func(context.Context, any) (any, error) {
		calls++
		return nil, errors.New("connection reset")
	})
	for i := 0; i < 20; i++ {
		_, _ = failing(context.Background(), nil)
	}
	if calls != 2 {
		t.Errorf("endpoint called %d times, want 2 before the breaker opened", calls)
	}
	if v := testutil.ToFloat64(c.RED.RequestsVec.WithLabelValues("orders", "endpoint", "Fail", "Unavailable")); v != 18 {
		t.Errorf("breaker rejections counted = %v, want 18", v)
	}
	healthy := c.Wrap("Healthy", func(context.Context, any) (any, error) { return "ok", nil })
	if _, err := healthy(context.Background(), nil); err != nil {
		t.Errorf("another method's breaker tripped: %v", err)
	}
	if buf.Find(t, "msg", "circuit breaker state change") == nil {
		t.Error("breaker opening was not logged")
	}
}

func TestChainZeroValueParts(t *testing.T) {
	e := mw.Chain{}.Wrap("M", func(context.Context, any) (any, error) { return "ok", nil })
	for i := 0; i < 100; i++ {
		if _, err := e(context.Background(), nil); err != nil {
			t.Fatalf("zero Chain limited or failed call %d: %v", i, err)
		}
	}
}

func TestWrapClient(t *testing.T) {
	var buf kittest.LogBuffer
	c, rec := newChain(t, &buf)
	calls := 0
	e := c.WrapClient("products.ReserveInventory", func(context.Context, any) (any, error) {
		calls++
		return nil, errs.New(errs.Unavailable, errs.ReasonUnavailable, "down")
	})
	for i := 0; i < 5; i++ {
		_, _ = e(context.Background(), nil)
	}
	if calls != 2 {
		t.Errorf("callee reached %d times, want 2", calls)
	}
	if v := testutil.ToFloat64(c.RED.RequestsVec.WithLabelValues("orders", "client", "products.ReserveInventory", "Unavailable")); v != 5 {
		t.Errorf("client calls counted = %v, want 5", v)
	}
	if n := len(rec.Spans()); n != 5 {
		t.Errorf("%d client spans, want 5", n)
	}
	if len(buf.Lines(t)) != 1 { // only the breaker's state change
		t.Errorf("client chain logged calls: %s", buf.String())
	}
}

func TestChainQuietSuccessesStillLogsFailures(t *testing.T) {
	var logs kittest.LogBuffer
	c := mw.Chain{Service: "orders", Logger: logx.New(&logs, "orders"), QuietSuccesses: true}
	ok := c.Wrap("Get", func(context.Context, any) (any, error) { return "fine", nil })
	bad := c.Wrap("Put", func(context.Context, any) (any, error) {
		return nil, errs.New(errs.NotFound, "GONE", "gone")
	})
	_, _ = ok(context.Background(), nil)
	_, _ = bad(context.Background(), nil)
	lines := logs.Lines(t)
	if len(lines) != 1 || lines[0]["method"] != "Put" || lines[0]["err_reason"] != "GONE" {
		t.Fatalf("want only the failure logged, got %v", lines)
	}
}
