package canary

import (
	"math"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	th := Thresholds{ErrorMargin: 0.01, P99Factor: 1.5, P99Slack: 10 * time.Millisecond, MinRequests: 100}
	stable := Sample{Requests: 2000, Errors: 2, P99: 0.020}
	for _, c := range []struct {
		name              string
		canary            Sample
		stepOver, expired bool
		want              string
	}{
		{"healthy, step running", Sample{Requests: 150, P99: 0.02}, false, false, ActionHold},
		{"healthy, step over", Sample{Requests: 150, P99: 0.02}, true, false, ActionAdvance},
		{"failing: rolled back before the step ends", Sample{Requests: 150, Errors: 30, P99: 0.02}, false, false, ActionRollback},
		{"errors within the margin", Sample{Requests: 1000, Errors: 10, P99: 0.02}, true, false, ActionAdvance},
		{"errors just beyond the margin", Sample{Requests: 1000, Errors: 12, P99: 0.02}, true, false, ActionRollback},
		{"too few requests to blame errors", Sample{Requests: 10, Errors: 5, P99: 0.02}, false, false, ActionHold},
		{"slow: judged at the step's end", Sample{Requests: 150, P99: 0.2}, false, false, ActionHold},
		{"slow, step over", Sample{Requests: 150, P99: 0.2}, true, false, ActionRollback},
		{"p99 within factor and slack", Sample{Requests: 150, P99: 0.039}, true, false, ActionAdvance},
		{"no traffic, waiting", Sample{Requests: 3}, true, false, ActionHold},
		{"no traffic, expired: never promoted blind", Sample{Requests: 3}, true, true, ActionRollback},
		{"no latency data", Sample{Requests: 150, P99: math.NaN()}, true, false, ActionAdvance},
	} {
		if got, reason := Judge(c.canary, stable, th, c.stepOver, c.expired); got != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, got, reason, c.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	// 100 observations: 90 at or under 10ms, 10 in (10ms, 100ms].
	b := map[float64]float64{0.01: 90, 0.1: 100, math.Inf(1): 100}
	if got := quantile(0.99, b); math.Abs(got-0.091) > 1e-9 {
		t.Fatalf("p99 = %v, want 0.091 (interpolated in the last bucket)", got)
	}
	if got := quantile(0.5, b); got <= 0 || got > 0.01 {
		t.Fatalf("p50 = %v, want within the first bucket", got)
	}
	if !math.IsNaN(quantile(0.99, map[float64]float64{0.01: 0, math.Inf(1): 0})) {
		t.Fatal("p99 of nothing is not NaN")
	}
	if got := quantile(0.99, map[float64]float64{0.01: 0, 10: 0, math.Inf(1): 5}); got != 10 {
		t.Fatalf("p99 beyond the last bound = %v, want that bound", got)
	}
}

func TestParseSample(t *testing.T) {
	labels, v, err := parseSample(`{backend="products",backend_version="v\"2\\",code="OK"} 12.5 1700000000`)
	if err != nil || v != 12.5 || labels["backend_version"] != `v"2\` || labels["code"] != "OK" {
		t.Fatalf("got %v %v %v", labels, v, err)
	}
	for _, bad := range []string{`backend="x"} 1`, `{backend="x} 1`, `{backend="x"}`, `{backend=x} 1`} {
		if _, _, err := parseSample(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestWindowSurvivesARestartedGateway(t *testing.T) {
	var w window
	at := func(req, errs float64) map[string]map[string]*Counts {
		return map[string]map[string]*Counts{"g1": {"v2": {Requests: req, Errors: errs, Buckets: map[float64]float64{math.Inf(1): req}}}}
	}
	w.since(at(100, 10))
	if got := w.since(at(150, 20))["v2"]; got.Requests != 50 || got.Errors != 10 {
		t.Fatalf("delta = %+v, want 50 requests, 10 errors", got)
	}
	if got := w.since(at(30, 1))["v2"]; got.Requests != 30 || got.Errors != 1 {
		t.Fatalf("after a counter reset: %+v, want the new counts", got)
	}
}
