package e2e

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

// The tiers of the limit checks, besides edgeKey's: an anonymous tier
// that a few requests exhaust and that refills a token a second, and a
// cluster tier that two gateways share, with a key for each phase of the
// cluster check so that the phases start from full buckets.
const (
	anonPerMinute    = 60
	anonBurst        = 5
	clusterPerMinute = 1200
	clusterBurst     = 20
	clusterKeySpread = "e2e-cluster-spread"
	clusterKeyAlone  = "e2e-cluster-alone"
)

var (
	limitTiers = fmt.Sprintf(`"anonymous": {"per_minute": %d, "burst": %d}, "e2e-cluster": {"per_minute": %d, "burst": %d}`,
		anonPerMinute, anonBurst, clusterPerMinute, clusterBurst)
	limitKeys = []string{clusterKeySpread + ":e2e-cluster", clusterKeyAlone + ":e2e-cluster"}
)

// testAnonymousLimit exhausts the anonymous tier from one address: an
// unknown X-API-Key is 401 INVALID_API_KEY (and charged to the address),
// the burst is admitted with the rate-limit headers, the next request is
// 429 RATE_LIMITED with Retry-After, and after that wait a request is
// admitted again. It needs the only gateway: with two, each holds half
// the burst.
func (r *edgeRig) testAnonymousLimit(t *testing.T) {
	path := "/api/v1/products/" + r.pid
	anonymous := &edge{base: r.gw.base, client: r.gw.client}
	unknownKey := &edge{base: r.gw.base, client: r.gw.client, apiKey: "no-such-key"}

	a := unknownKey.get(t, path, "")
	wantProblem(t, a, http.StatusUnauthorized, "INVALID_API_KEY")
	wantLimitHeaders(t, a, anonBurst, false)

	// Counting the unknown key's attempt: the address pays for it.
	admitted := 1
	var refused edgeAnswer
	for refused.status == 0 {
		if admitted > 3*anonBurst {
			t.Fatalf("%d anonymous requests admitted, want 429 after the burst of %d", admitted, anonBurst)
		}
		a := anonymous.get(t, path, "")
		switch a.status {
		case http.StatusOK:
			admitted++
			wantLimitHeaders(t, a, anonBurst, false)
		case http.StatusTooManyRequests:
			refused = a
		default:
			t.Fatalf("anonymous read: %d %v", a.status, a.body)
		}
	}
	// The burst, and at most one token refilled while the loop ran.
	if admitted < anonBurst || admitted > anonBurst+1 {
		t.Errorf("%d requests admitted before the first 429, want the burst (%d)", admitted, anonBurst)
	}
	wantProblem(t, refused, http.StatusTooManyRequests, "RATE_LIMITED")
	wantLimitHeaders(t, refused, anonBurst, true)
	retry, err := strconv.Atoi(refused.header.Get("Retry-After"))
	// One token takes 60/per_minute seconds; the header rounds up.
	if maxWait := int(math.Ceil(60.0 / anonPerMinute)); err != nil || retry < 1 || retry > maxWait {
		t.Fatalf("429's Retry-After %q, want 1..%d seconds", refused.header.Get("Retry-After"), maxWait)
	}
	if a := anonymous.get(t, path, ""); a.status != http.StatusTooManyRequests {
		t.Errorf("request right after the 429: %d, want 429 again", a.status)
	}
	// Retry-After is the server's promise of when a token is back:
	// waiting exactly that long is what is under test.
	time.Sleep(time.Duration(retry) * time.Second)
	if a := anonymous.get(t, path, ""); a.status != http.StatusOK {
		t.Errorf("request after waiting the Retry-After of %ds: %d %v, want 200", retry, a.status, a.body)
	}
}

// wantProblem checks a problem+json answer's status and code.
func wantProblem(t *testing.T, a edgeAnswer, status int, code string) {
	t.Helper()
	kittest.ExpectProblem(t, kittest.HTTPResponse{Status: a.status, Header: a.header, Body: a.body}, status, code)
}

// wantLimitHeaders checks API.md's rate-limit headers: the limit is the
// tier's burst, the remaining count is within it (0 on a refusal), the
// IETF and X- spellings agree, and the resets are in the near future;
// Retry-After only on a refusal.
func wantLimitHeaders(t *testing.T, a edgeAnswer, burst int, refused bool) {
	t.Helper()
	h := a.header
	num := func(name string) int64 {
		v, err := strconv.ParseInt(h.Get(name), 10, 64)
		if err != nil {
			t.Fatalf("%d answer: header %s = %q, want a number (headers %v)", a.status, name, h.Get(name), h)
		}
		return v
	}
	if l, xl := num("RateLimit-Limit"), num("X-RateLimit-Limit"); l != int64(burst) || xl != l {
		t.Errorf("RateLimit-Limit %d, X-RateLimit-Limit %d, want the burst %d", l, xl, burst)
	}
	rem, xrem := num("RateLimit-Remaining"), num("X-RateLimit-Remaining")
	if rem < 0 || rem > int64(burst) || xrem != rem || (refused && rem != 0) {
		t.Errorf("RateLimit-Remaining %d, X-RateLimit-Remaining %d, want equal, in 0..%d (0 when refused: %v)", rem, xrem, burst, refused)
	}
	// A bucket refills from empty in burst/rate: 5 s here.
	reset, xreset, now := num("RateLimit-Reset"), num("X-RateLimit-Reset"), time.Now().Unix()
	if reset < 0 || reset > 60 || xreset < now-1 || xreset > now+61 {
		t.Errorf("RateLimit-Reset %d s, X-RateLimit-Reset %d (now %d): want within the next minute", reset, xreset, now)
	}
	if got := h.Get("Retry-After") != ""; got != refused {
		t.Errorf("Retry-After %q on a %d answer", h.Get("Retry-After"), a.status)
	}
}

// testClusterLimit starts a second gateway and checks the cluster-wide
// limit: once both have seen each other in the registry, a client whose
// requests alternate between them is admitted the tier's allowance
// (burst + rate × time) within 10%, as one gateway would admit it. It
// also measures the trade-off of sharing without a shared store: a client
// that sticks to one gateway gets only that gateway's half.
func (r *edgeRig) testClusterLimit(t *testing.T) {
	p := r.p
	p.startGateway()
	p.waitInstances("gateway", 2)
	gws := []*edge{newEdge(p, 0), newEdge(p, 1)}
	for i, g := range gws {
		kittest.WaitFor(t, 15*time.Second, fmt.Sprintf("gateway %d to count 2 gateways", i), func() bool {
			return g.metric(t, "kitshop_ratelimit_share") == 2
		})
	}
	path := "/api/v1/products/" + r.pid

	admitted, allowance := offerPaced(t, path, clusterKeySpread, gws)
	t.Logf("alternating over 2 gateways: %d admitted, allowance %.1f (%.0f%%)", admitted, allowance, 100*float64(admitted)/allowance)
	if math.Abs(float64(admitted)-allowance) > 0.1*allowance {
		t.Errorf("2 gateways admitted %d requests, want the tier's allowance %.1f within 10%%", admitted, allowance)
	}

	alone, allowance := offerPaced(t, path, clusterKeyAlone, gws[:1])
	t.Logf("sticking to 1 of 2 gateways: %d admitted, allowance %.1f (%.0f%%)", alone, allowance, 100*float64(alone)/allowance)
	// Documented (kit/ratelimit): the gateway a client sticks to admits
	// its share, never more than the tier.
	if half := allowance / 2; math.Abs(float64(alone)-half) > 0.1*half {
		t.Errorf("one of 2 gateways admitted %d requests, want its half of the allowance, %.1f, within 10%%", alone, half)
	}
}

// Load of offerPaced: 5 times the cluster tier's rate, for long enough
// that the rate, not the burst, decides most of the allowance.
const (
	offerInterval = 10 * time.Millisecond
	offerWindow   = 4 * time.Second
)

// offerPaced sends GET path with key every offerInterval for offerWindow,
// round-robin over gws, and returns how many requests were admitted and
// the cluster tier's allowance over the time between the first and the
// last: burst + rate × elapsed. Sends are paced by the clock, not by the
// answers, so a slow answer does not lower the offered load.
func offerPaced(t *testing.T, path, key string, gws []*edge) (admitted int, allowance float64) {
	t.Helper()
	clients := make([]*edge, len(gws))
	for i, g := range gws {
		clients[i] = &edge{base: g.base, client: g.client, apiKey: key}
	}
	start := time.Now()
	var last time.Time
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * offerInterval)
		if at.Sub(start) > offerWindow {
			break
		}
		time.Sleep(time.Until(at))
		last = time.Now()
		a := clients[i%len(clients)].get(t, path, "")
		switch a.status {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("read with a cluster-tier key: %d %v", a.status, a.body)
		}
	}
	elapsed := last.Sub(start).Seconds()
	return admitted, clusterBurst + clusterPerMinute/60.0*elapsed
}
