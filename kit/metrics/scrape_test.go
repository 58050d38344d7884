package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/metrics"
)

func TestScrapedGaugeReadsAtEachScrape(t *testing.T) {
	var v atomic.Int64
	v.Store(3)
	var failed atomic.Pointer[error]
	fail := errors.New("database down")
	var broken atomic.Bool
	g := metrics.NewScrapedGauge(prometheus.GaugeOpts{Name: "kitshop_test_things", Help: "Things."}, 0,
		func(ctx context.Context) (float64, error) {
			if _, ok := ctx.Deadline(); !ok {
				return 0, errors.New("read without a deadline")
			}
			if broken.Load() {
				return 0, fail
			}
			return float64(v.Load()), nil
		},
		func(err error) { failed.Store(&err) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)

	want := func(n int) string {
		return fmt.Sprintf("# HELP kitshop_test_things Things.\n# TYPE kitshop_test_things gauge\nkitshop_test_things %d\n", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(3)), "kitshop_test_things"); err != nil {
		t.Fatal(err)
	}
	v.Store(5)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(5)), "kitshop_test_things"); err != nil {
		t.Fatal("the gauge did not follow its source:", err)
	}

	// A failing source leaves the gauge out; the scrape still succeeds.
	broken.Store(true)
	if n, err := testutil.GatherAndCount(reg, "kitshop_test_things"); err != nil || n != 0 {
		t.Fatalf("with the source down: %d series, err %v; want none and no error", n, err)
	}
	if p := failed.Load(); p == nil || !errors.Is(*p, fail) {
		t.Fatal("onError was not told why")
	}
}

func TestScrapedGaugeReadIsBounded(t *testing.T) {
	g := metrics.NewScrapedGauge(prometheus.GaugeOpts{Name: "kitshop_test_slow", Help: "Slow."}, 50*time.Millisecond,
		func(ctx context.Context) (float64, error) {
			<-ctx.Done() // a source that never answers
			return 0, ctx.Err()
		}, nil)
	start := time.Now()
	if n := testutil.CollectAndCount(g); n != 0 {
		t.Fatalf("%d series from a source that never answered", n)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("scrape took %v: the read was not bounded", took)
	}
}
