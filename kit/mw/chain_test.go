package mw_test

import (
	"context"
	"errors"
	"testing"

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

// TestChainHasNoServerBreaker pins the lesson of the black-box probe: a
// server-side breaker let five bad logins (or five calls with a 1 ns
// deadline) refuse login to everyone for a minute. However a method
// fails, every call still reaches it.
func TestChainHasNoServerBreaker(t *testing.T) {
	var buf kittest.LogBuffer
	c, _ := newChain(t, &buf)
	c.Limit = 0 // no rate limit
	failures := []error{
		errors.New("connection reset"),
		errs.New(errs.Unavailable, errs.ReasonUnavailable, "db down"),
		errs.Invalid(errs.FieldViolation{Field: "email", Message: "NUL byte"}),
		context.DeadlineExceeded,
	}
	for _, failure := range failures {
		calls := 0
		failing := c.Wrap("Fail", func(context.Context, any) (any, error) {
			calls++
			return nil, failure
		})
		for i := 0; i < 20; i++ {
			_, _ = failing(context.Background(), nil)
		}
		if calls != 20 {
			t.Errorf("%v: endpoint reached %d of 20 times: something refused calls", failure, calls)
		}
	}
	if buf.Find(t, "msg", "circuit breaker state change") != nil {
		t.Error("a server-side breaker changed state")
	}
}

func TestChainShedsOverload(t *testing.T) {
	c := mw.Chain{Shed: mw.NewShedder(1)}
	entered, release := make(chan struct{}), make(chan struct{})
	slow := c.Wrap("Slow", func(context.Context, any) (any, error) { close(entered); <-release; return "ok", nil })
	other := c.Wrap("Other", func(context.Context, any) (any, error) { return "ok", nil })
	done := make(chan struct{})
	go func() { defer close(done); _, _ = slow(context.Background(), nil) }()
	<-entered
	if _, err := other(context.Background(), nil); errs.ReasonOf(err) != mw.ReasonOverloaded {
		t.Errorf("call over the process limit: %v, want OVERLOADED", err)
	}
	close(release)
	<-done
	if _, err := other(context.Background(), nil); err != nil {
		t.Errorf("after the load fell: %v", err)
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
	if calls != 5 {
		t.Errorf("callee reached %d times, want 5 (the breaker is kit/sd.Backend's)", calls)
	}
	if v := testutil.ToFloat64(c.RED.RequestsVec.WithLabelValues("orders", "client", "products.ReserveInventory", "Unavailable")); v != 5 {
		t.Errorf("client calls counted = %v, want 5", v)
	}
	if n := len(rec.Spans()); n != 5 {
		t.Errorf("%d client spans, want 5", n)
	}
	if len(buf.Lines(t)) != 0 {
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
