package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/kittest"
)

// t0 is a whole second, so Unix-time headers are easy to predict.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// oneASecond is a tier with round numbers: one token a second, three at
// most.
var oneASecond = Tier{Name: Anonymous, PerMinute: 60, Burst: 3}

type fixture struct {
	*Limiter
	clock *kittest.Clock
	reg   *prometheus.Registry
}

// newFixture builds a Limiter on a stopped clock and its own registry.
// cfg.Now and cfg.Registerer are set here.
func newFixture(t testing.TB, cfg Config) fixture {
	t.Helper()
	clock := kittest.NewClock(t0)
	reg := prometheus.NewRegistry()
	cfg.Now = clock.Now
	cfg.Registerer = reg
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{Limiter: l, clock: clock, reg: reg}
}

// request is a GET from remote (ip:port) with the given headers, in
// key/value pairs.
func request(remote string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/products", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

// client identifies r, failing the test on an error.
func (f fixture) client(t testing.TB, r *http.Request) Client {
	t.Helper()
	c, err := f.Identify(r)
	if err != nil {
		t.Fatalf("identify %s: %v", r.RemoteAddr, err)
	}
	return c
}

// allowN charges c n times and returns how many were admitted.
func (f fixture) allowN(c Client, n int) int {
	admitted := 0
	for range n {
		if f.Allow(c).Allowed {
			admitted++
		}
	}
	return admitted
}
