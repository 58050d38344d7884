package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// within is true when got is within the histogram's 3-significant-digit
// precision of want.
func within(got, want float64) bool { return got >= want*0.999 && got <= want*1.001 }

func TestPercentilesOfAKnownDistribution(t *testing.T) {
	r := newRecorder()
	t0 := time.Unix(1_700_000_000, 0)
	// 1..1000 ms, one request each, one per millisecond.
	for i := 1; i <= 1000; i++ {
		r.record(outcome{route: routeGetProduct, start: t0.Add(time.Duration(i) * time.Millisecond), latency: time.Duration(i) * time.Millisecond})
	}
	s := r.summary()
	for name, c := range map[string]struct{ got, want float64 }{
		"p50": {s.Latency.P50, 500}, "p90": {s.Latency.P90, 900}, "p99": {s.Latency.P99, 990},
		"p99.9": {s.Latency.P999, 999}, "max": {s.Latency.Max, 1000}, "mean": {s.Latency.Mean, 500.5},
	} {
		if !within(c.got, c.want) {
			t.Errorf("%s = %.3fms, want %.1fms", name, c.got, c.want)
		}
	}
	if s.Requests != 1000 || s.Failed != 0 || s.Succeeded != 1000 {
		t.Errorf("counts %d/%d/%d", s.Requests, s.Succeeded, s.Failed)
	}
	// Sent over 999 ms (1 ms apart): 1000 req/s. The last answer comes
	// at 1000+1000 ms, so 1000 answers over 1999 ms.
	if !within(s.Rate, 1000) || !within(s.Throughput, 1000/1.999) {
		t.Errorf("rate %.2f, throughput %.2f", s.Rate, s.Throughput)
	}
	if len(s.Routes) != 1 || s.Routes[0].Latency != s.Latency {
		t.Errorf("routes %+v", s.Routes)
	}
}

func TestErrorsAreTalliedByStatusAndCode(t *testing.T) {
	r := newRecorder()
	now := time.Now()
	add := func(n int, o outcome) {
		for range n {
			o.start = now
			r.record(o)
		}
	}
	add(5, outcome{route: routeList, status: 200})
	add(3, outcome{route: routeList, status: 429, code: "RATE_LIMITED", failed: true})
	add(4, outcome{route: routePlaceOrder, status: 409, code: "INSUFFICIENT_STOCK", failed: true})
	add(1, outcome{route: routePlaceOrder, status: 429, code: "RATE_LIMITED", failed: true})
	add(2, outcome{route: routeGetProduct, code: "connection refused", failed: true})
	s := r.summary()
	want := []ErrorCount{
		{errorKey{429, "RATE_LIMITED"}, 4},
		{errorKey{409, "INSUFFICIENT_STOCK"}, 4},
		{errorKey{0, "connection refused"}, 2},
	}
	if len(s.Errors) != len(want) {
		t.Fatalf("errors %+v, want %+v", s.Errors, want)
	}
	// Most frequent first; ties by status.
	want[0], want[1] = want[1], want[0]
	for i := range want {
		if s.Errors[i] != want[i] {
			t.Errorf("errors[%d] = %+v, want %+v", i, s.Errors[i], want[i])
		}
	}
	if s.Failed != 10 || s.Succeeded != 5 {
		t.Errorf("failed %d, succeeded %d", s.Failed, s.Succeeded)
	}
	var out strings.Builder
	s.print(&out)
	for _, line := range []string{"409  INSUFFICIENT_STOCK  4", "429  RATE_LIMITED        4", "-    connection refused  2"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, out.String())
		}
	}
	path := filepath.Join(t.TempDir(), "out.json")
	if err := s.writeJSON(path); err != nil {
		t.Fatal(err)
	}
	var back Summary
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &back); err != nil || back.Failed != 10 || len(back.Errors) != 3 || back.Errors[2].Code != "connection refused" {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
}

func TestOutcomeOfAVegetaResult(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	s := schedule{rate: 10} // request k due at (k+1)·100ms
	res := &vegeta.Result{
		Seq: 4, Method: "POST", URL: "https://localhost:8080/api/v1/orders", Code: 409,
		Body: []byte(`{"type":"/problems/insufficient-stock","status":409,"code":"INSUFFICIENT_STOCK"}`),
		// Due at 500 ms, taken by a worker 200 ms late, answered in 50 ms.
		Timestamp: start.Add(700 * time.Millisecond), Latency: 50 * time.Millisecond,
	}
	o := toOutcome(res, start, s)
	if o.route != routePlaceOrder || !o.failed || o.status != 409 || o.code != "INSUFFICIENT_STOCK" {
		t.Errorf("outcome %+v", o)
	}
	if o.latency != 250*time.Millisecond || !o.start.Equal(start.Add(500*time.Millisecond)) {
		t.Errorf("latency %s from %s: want 250ms from the due time", o.latency, o.start.Sub(start))
	}
	// On time: vegeta's own measure stands.
	res = &vegeta.Result{Seq: 0, Method: "GET", URL: "https://localhost:8080/api/v1/products?q=mug", Code: 200,
		Timestamp: start.Add(100 * time.Millisecond), Latency: 3 * time.Millisecond}
	if o := toOutcome(res, start, s); o.latency != 3*time.Millisecond || o.failed || o.route != routeSearch {
		t.Errorf("on-time outcome %+v", o)
	}
	res = &vegeta.Result{Method: "GET", URL: "https://localhost:8080/api/v1/products/x", Timestamp: start,
		Error: `Get "https://localhost:8080/api/v1/products/x": dial tcp 127.0.0.1:8080: connect: connection refused`}
	if o := toOutcome(res, start, s); !o.failed || o.status != 0 || o.code != "connection refused" || o.route != routeGetProduct {
		t.Errorf("transport error outcome %+v", o)
	}
}

func TestClassifyNamesEveryRoute(t *testing.T) {
	w := &world{base: "https://localhost:8080", product: []string{"p1"}, words: []string{"mug"},
		users: []poolUser{{id: "u1", email: "a@example.com", password: "pw", token: "tok"}}, userIdx: map[string]int{"u1": 0}}
	w.remember(placedOrder{id: "o1"})
	for _, r := range knownRoutes {
		var tgt vegeta.Target
		w.build(r, &tgt)
		if got := classify(tgt.Method, tgt.URL); got != r {
			t.Errorf("%s built %s %s, classified %s", r, tgt.Method, tgt.URL, got)
		}
	}
}
