package mw_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
)

func TestMetricsCountsByKind(t *testing.T) {
	red, err := metrics.NewRED(prometheus.NewRegistry(), "products")
	if err != nil {
		t.Fatal(err)
	}
	count := func(code string) float64 {
		return testutil.ToFloat64(red.RequestsVec.WithLabelValues("products", "endpoint", "GetProduct", code))
	}
	for _, o := range []error{nil, nil, errs.New(errs.NotFound, "PRODUCT_NOT_FOUND", "x")} {
		e := mw.Metrics(red, metrics.TransportEndpoint, "GetProduct")(func(context.Context, any) (any, error) { return nil, o })
		_, _ = e(context.Background(), nil)
	}
	if count("OK") != 2 || count("NotFound") != 1 {
		t.Errorf("OK=%v NotFound=%v, want 2 and 1", count("OK"), count("NotFound"))
	}

	// A panic is counted as Internal and leaves nothing in flight.
	e := mw.Metrics(red, metrics.TransportEndpoint, "GetProduct")(func(context.Context, any) (any, error) { panic("boom") })
	func() {
		defer func() { _ = recover() }()
		_, _ = e(context.Background(), nil)
	}()
	if count("Internal") != 1 {
		t.Errorf("panic not counted as Internal")
	}
	if v := testutil.ToFloat64(red.InFlightVec.WithLabelValues("products", "endpoint", "GetProduct")); v != 0 {
		t.Errorf("in flight = %v after all calls ended", v)
	}
}
