package ratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serve runs r through f's middleware in front of a handler that answers
// 204, and reports whether that handler ran.
func (f fixture) serve(r *http.Request) (*httptest.ResponseRecorder, bool) {
	called := false
	h := f.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		called = true
		w.WriteHeader(http.StatusNoContent)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, called
}

// wantHeaders checks the rate-limit headers of w.
func wantHeaders(t *testing.T, w *httptest.ResponseRecorder, limit, remaining, reset int, resetAt time.Time) {
	t.Helper()
	for _, c := range []struct {
		name string
		want int64
	}{
		{"RateLimit-Limit", int64(limit)},
		{"RateLimit-Remaining", int64(remaining)},
		{"RateLimit-Reset", int64(reset)},
		{"X-RateLimit-Limit", int64(limit)},
		{"X-RateLimit-Remaining", int64(remaining)},
		{"X-RateLimit-Reset", resetAt.Unix()},
	} {
		if got := w.Header().Values(c.name); len(got) != 1 || got[0] != strconv.FormatInt(c.want, 10) {
			t.Errorf("%s: %q, want %d", c.name, got, c.want)
		}
	}
}

// wantProblem checks that w is a problem+json answer with status and code
// and returns its body.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body["code"] != code || body["status"] != float64(status) {
		t.Fatalf("problem %v, want status %d code %s", body, status, code)
	}
	return body
}

func TestMiddlewareHeadersAnd429(t *testing.T) {
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: oneASecond}})
	for i := range 3 {
		w, called := f.serve(request("192.0.2.1:1"))
		if !called || w.Code != http.StatusNoContent {
			t.Fatalf("request %d: %d, handler called %v", i+1, w.Code, called)
		}
		// After request i+1 there are 2-i tokens, full again in i+1 s.
		wantHeaders(t, w, 3, 2-i, i+1, t0.Add(time.Duration(i+1)*time.Second))
		if w.Header().Get("Retry-After") != "" {
			t.Errorf("request %d: Retry-After on a success", i+1)
		}
	}

	f.clock.Advance(250 * time.Millisecond)
	w, called := f.serve(request("192.0.2.1:1"))
	if called {
		t.Fatal("the handler ran for a refused request")
	}
	body := wantProblem(t, w, http.StatusTooManyRequests, "RATE_LIMITED")
	// 0.25 tokens: one is there in 0.75 s (Retry-After rounds up to 1),
	// all three in 2.75 s (Reset rounds up to 3; the moment is t0+3 s).
	wantHeaders(t, w, 3, 0, 3, t0.Add(3*time.Second))
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if body["retry_after_seconds"] != float64(1) || body["instance"] != "/api/v1/products" {
		t.Errorf("problem %v, want retry_after_seconds 1 and the path as instance", body)
	}

	f.clock.Advance(750 * time.Millisecond)
	if w, called := f.serve(request("192.0.2.1:1")); !called {
		t.Fatalf("after the refill: %d, want the handler called", w.Code)
	}
}

func TestMiddlewareRetryAfterCountsWholeSecondsUp(t *testing.T) {
	// Default anonymous tier: a token every 6 s.
	f := newFixture(t, Config{})
	for range 20 {
		f.serve(request("192.0.2.1:1"))
	}
	f.clock.Advance(1500 * time.Millisecond)
	w, _ := f.serve(request("192.0.2.1:1"))
	wantProblem(t, w, http.StatusTooManyRequests, "RATE_LIMITED")
	if got := w.Header().Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After %q, want 5 (4.5 s rounded up)", got)
	}
	// 0.25 tokens of 20: full in 118.5 s, header 119, at t0+1.5+118.5 = t0+120.
	wantHeaders(t, w, 20, 0, 119, t0.Add(120*time.Second))
}

func TestMiddlewareAPIKeys(t *testing.T) {
	tiers := map[string]Tier{
		Anonymous: oneASecond,
		"pro":     {Name: "pro", PerMinute: 600, Burst: 10},
	}
	f := newFixture(t, Config{Tiers: tiers, APIKeys: map[string]Tier{"good-key": tiers["pro"]}})

	w, called := f.serve(request("192.0.2.1:1", HeaderAPIKey, "good-key"))
	if !called {
		t.Fatalf("a configured key was refused: %d", w.Code)
	}
	wantHeaders(t, w, 10, 9, 1, t0.Add(time.Second))
	// The key is the client wherever it comes from.
	if w, _ := f.serve(request("198.51.100.7:1", HeaderAPIKey, "good-key")); w.Header().Get("RateLimit-Remaining") != "8" {
		t.Errorf("same key from another address: Remaining %q, want 8", w.Header().Get("RateLimit-Remaining"))
	}

	for name, r := range map[string]*http.Request{
		"unknown key":   request("192.0.2.1:1", HeaderAPIKey, "good-kee"),
		"empty key":     request("192.0.2.1:1", HeaderAPIKey, ""),
		"two keys":      request("192.0.2.1:1", HeaderAPIKey, "good-key", HeaderAPIKey, "good-key"),
		"key too long":  request("192.0.2.1:1", HeaderAPIKey, strings.Repeat("k", 300)),
		"padded key":    request("192.0.2.1:1", HeaderAPIKey, " good-key"),
		"other address": request("192.0.2.99:1", HeaderAPIKey, "nope"),
	} {
		w, called := f.serve(r)
		if called {
			t.Errorf("%s: the handler ran", name)
			continue
		}
		body := wantProblem(t, w, http.StatusUnauthorized, "INVALID_API_KEY")
		if strings.Contains(w.Body.String(), "good-ke") || strings.Contains(w.Body.String(), "nope") {
			t.Errorf("%s: the answer repeats the key: %v", name, body)
		}
		if w.Header().Get("RateLimit-Limit") != "3" {
			t.Errorf("%s: RateLimit-Limit %q, want the anonymous tier's 3", name, w.Header().Get("RateLimit-Limit"))
		}
		f.clock.Advance(time.Second) // keep 192.0.2.1's bucket from emptying here
	}
}

func TestMiddlewareChargesBadKeysToTheSourceAddress(t *testing.T) {
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: oneASecond}})
	for i := range 3 {
		w, _ := f.serve(request("192.0.2.1:1", HeaderAPIKey, "guess-"+strconv.Itoa(i)))
		wantProblem(t, w, http.StatusUnauthorized, "INVALID_API_KEY")
	}
	// Guessing has spent the address's allowance: now 429, which also
	// stops telling the guesser anything about keys.
	w, _ := f.serve(request("192.0.2.1:1", HeaderAPIKey, "guess-3"))
	wantProblem(t, w, http.StatusTooManyRequests, "RATE_LIMITED")
	if _, called := f.serve(request("192.0.2.1:1")); called {
		t.Error("the address's anonymous requests were not charged for the bad keys")
	}
}

func TestMiddlewareSkip(t *testing.T) {
	f := newFixture(t, Config{
		Tiers: map[string]Tier{Anonymous: oneASecond},
		Skip:  func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/health/") },
	})
	for range 10 {
		r := request("192.0.2.1:1")
		r.URL.Path = "/health/ready"
		w, called := f.serve(r)
		if !called || w.Header().Get("RateLimit-Limit") != "" {
			t.Fatalf("skipped path: handler called %v, headers %v", called, w.Header())
		}
	}
	if got := f.Len(); got != 0 {
		t.Fatalf("skipped requests made %d buckets", got)
	}
	if _, called := f.serve(request("192.0.2.1:1")); !called {
		t.Fatal("skipped requests were charged")
	}
}

func TestCeilings(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {-time.Second, 0}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {1<<63 - 1, 9223372037}} {
		if got := ceilSeconds(c.d); got != c.want {
			t.Errorf("ceilSeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	if got := ceilUnix(t0.Add(time.Nanosecond)); got != t0.Unix()+1 {
		t.Errorf("ceilUnix just after t0 = %d, want %d", got, t0.Unix()+1)
	}
	if got := ceilUnix(t0); got != t0.Unix() {
		t.Errorf("ceilUnix(t0) = %d, want %d", got, t0.Unix())
	}
	if got := (Decision{RetryAfter: time.Millisecond}).retryAfterSeconds(); got != 1 {
		t.Errorf("Retry-After for 1ms = %d, want 1", got)
	}
}
