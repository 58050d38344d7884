package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/kittest"
)

// benchLimiter is a Limiter on the real clock with a tier generous enough
// that benchmarks measure admissions, the common case.
func benchLimiter(tb testing.TB) *Limiter {
	tb.Helper()
	tiers := DefaultTiers()
	tiers[Anonymous] = Tier{Name: Anonymous, PerMinute: 1e9, Burst: 1e9}
	l, err := New(Config{Tiers: tiers, Registerer: prometheus.NewRegistry()})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func TestAllowOnAWarmBucketDoesNotAllocate(t *testing.T) {
	if kittest.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	l := benchLimiter(t)
	c, err := l.Identify(request("192.0.2.1:4711"))
	if err != nil {
		t.Fatal(err)
	}
	l.Allow(c)
	if n := testing.AllocsPerRun(1000, func() { l.Allow(c) }); n != 0 {
		t.Fatalf("Allow allocates %v times per call on a warm bucket, want 0", n)
	}
	r := request("10.0.0.5:4711", "X-Forwarded-For", "198.51.100.1, 10.1.1.1")
	if n := testing.AllocsPerRun(1000, func() { _, _ = l.Identify(r) }); n != 0 {
		t.Fatalf("Identify allocates %v times per call, want 0", n)
	}
}

// BenchmarkAllow: one client, warm bucket, one goroutine.
func BenchmarkAllow(b *testing.B) {
	l := benchLimiter(b)
	c, _ := l.Identify(request("192.0.2.1:4711"))
	l.Allow(c)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(c)
	}
}

// BenchmarkAllowParallel: 4096 warm clients spread over the shards, all
// cores.
func BenchmarkAllowParallel(b *testing.B) {
	l := benchLimiter(b)
	clients := make([]Client, 4096)
	for i := range clients {
		clients[i] = l.addrClient(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), true)
		l.Allow(clients[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(clients[i&4095])
			i += 7
		}
	})
}

// BenchmarkAllowNewClients: every call is a client never seen, with the
// table full, so each one evicts: the cost of a flood of distinct
// addresses.
func BenchmarkAllowNewClients(b *testing.B) {
	l := benchLimiter(b)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		l.Allow(l.addrClient(netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}), true))
	}
}

// BenchmarkMiddleware: identify, charge and write the six headers, behind
// a trusted proxy, with a handler that does nothing.
func BenchmarkMiddleware(b *testing.B) {
	trusted, _ := ParseTrustedProxies("10.0.0.0/8")
	tiers := DefaultTiers()
	tiers[Anonymous] = Tier{Name: Anonymous, PerMinute: 1e9, Burst: 1e9}
	l, err := New(Config{Tiers: tiers, TrustedProxies: trusted})
	if err != nil {
		b.Fatal(err)
	}
	h := l.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := request("10.0.0.5:4711", "X-Forwarded-For", "198.51.100.1")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.HeaderMap)
		h.ServeHTTP(w, r)
	}
}

// Keep the real clock honest: a zero-config Limiter works without Now.
func TestRealClock(t *testing.T) {
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := l.Identify(request("192.0.2.1:1"))
	if d := l.Allow(c); !d.Allowed || d.At.IsZero() || time.Since(d.At) > time.Minute {
		t.Fatalf("%+v", d)
	}
}
