package e2e

import (
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tracing"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// statuses checks API.md's statuses through the gateway, one route at
// least for each (402 and 422 of checkout are in the README session, 429
// in rateLimit, 503 in noInstances, 504 in deadline; statusesSeen checks that every
// one came back somewhere).
func (s *storefront) statuses(t *testing.T) {
	admin := s.adminToken(t)
	buyer := s.register(t, "Statuses")
	scarce := s.createProduct(t, admin, 3)

	t.Run("200", func(t *testing.T) {
		r := s.send(t, http.MethodGet, "/api/v1/products/"+scarce, "", "").want(t, http.StatusOK)
		if r.str("id") != scarce || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s %v", r.Raw, r.Header)
		}
	})
	t.Run("201, then 409 EMAIL_TAKEN", func(t *testing.T) {
		body := `{"email":"twice-` + uuid.NewString()[:8] + `@example.com","password":"correct horse","name":"Twice"}`
		s.send(t, http.MethodPost, "/api/v1/users", "", body).want(t, http.StatusCreated)
		s.send(t, http.MethodPost, "/api/v1/users", "", body).wantProblem(t, http.StatusConflict, usersclient.ReasonEmailTaken)
	})
	t.Run("202 PENDING with Location, completed in the background", func(t *testing.T) {
		r := s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, frontOrder(scarce, 1, cardApproved),
			"Prefer", "respond-async").want(t, http.StatusAccepted)
		loc := r.Header.Get("Location")
		if r.str("status") != "PENDING" || loc != "/api/v1/orders/"+r.str("id") {
			t.Fatalf("202 %s, Location %q", r.Raw, loc)
		}
		kittest.WaitFor(t, 20*time.Second, "the async order confirmed", func() bool {
			return s.send(t, http.MethodGet, loc, buyer.token, "").str("status") == "CONFIRMED"
		})
	})
	t.Run("400 malformed JSON", func(t *testing.T) {
		s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, `{"items":[`).
			wantProblem(t, http.StatusBadRequest, httpx.ReasonMalformedJSON)
	})
	t.Run("400 unknown member", func(t *testing.T) {
		// A role in a registration would be a privilege escalation if it
		// were silently accepted; it is refused by name.
		s.send(t, http.MethodPost, "/api/v1/users", "",
			`{"email":"mallory-`+uuid.NewString()[:8]+`@example.com","password":"correct horse","name":"M","role":"admin"}`).
			wantProblem(t, http.StatusBadRequest, httpx.ReasonUnknownField)
	})
	t.Run("400 validation names each field", func(t *testing.T) {
		r := s.send(t, http.MethodPost, "/api/v1/users", "", `{"email":"nope","password":"short","name":""}`).
			wantProblem(t, http.StatusBadRequest, errs.ReasonValidation)
		fields := frontProblemFields(r)
		for _, want := range []string{"email", "password"} {
			if !slices.Contains(fields, want) {
				t.Errorf("errors name %v, want %s among them: %s", fields, want, r.Raw)
			}
		}
	})
	t.Run("401 with a challenge", func(t *testing.T) {
		r := s.send(t, http.MethodGet, "/api/v1/users/me", "", "").wantProblem(t, http.StatusUnauthorized, errs.ReasonUnauth)
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q, want a Bearer challenge", r.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("403 another user's account", func(t *testing.T) {
		adminID := s.send(t, http.MethodGet, "/api/v1/users/me", admin, "").want(t, http.StatusOK).str("id")
		s.send(t, http.MethodGet, "/api/v1/users/"+adminID, buyer.token, "").wantProblem(t, http.StatusForbidden, errs.ReasonForbidden)
	})
	t.Run("404 no such product", func(t *testing.T) {
		s.send(t, http.MethodGet, "/api/v1/products/"+uuid.NewString(), "", "").
			wantProblem(t, http.StatusNotFound, productsclient.ReasonProductNotFound)
	})
	t.Run("404 unknown route", func(t *testing.T) {
		for _, path := range []string{"/api/v1/carts", "/api/v2/products", "/", "/admin"} {
			s.send(t, http.MethodGet, path, admin, "").wantProblem(t, http.StatusNotFound, httpx.ReasonRouteNotFound)
		}
	})
	t.Run("405 with Allow", func(t *testing.T) {
		for path, allow := range map[string]string{
			"/api/v1/products": "GET, POST", "/api/v1/users/me": "GET, PATCH", "/api/v1/auth/login": "POST",
		} {
			r := s.send(t, http.MethodDelete, path, admin, "").wantProblem(t, http.StatusMethodNotAllowed, httpx.ReasonMethodNotAllowed)
			if got := r.Header.Get("Allow"); got != allow {
				t.Errorf("DELETE %s: Allow %q, want %q", path, got, allow)
			}
		}
	})
	t.Run("409 INSUFFICIENT_STOCK names the product and what is available", func(t *testing.T) {
		limited := s.createProduct(t, admin, 2)
		r := s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, frontOrder(limited, 3, cardApproved)).
			wantProblem(t, http.StatusConflict, ordersclient.ReasonInsufficientStock)
		if r.Body[ordersclient.MetaProductID] != limited || r.Body[ordersclient.MetaAvailable] != float64(2) {
			t.Fatalf("409 %s, want product_id %s and available 2", r.Raw, limited)
		}
	})
	t.Run("413 body over 1 MiB", func(t *testing.T) {
		body := `{"items":[],"padding":"` + strings.Repeat("x", httpx.MaxBodyBytes) + `"}`
		s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, body).
			wantProblem(t, http.StatusRequestEntityTooLarge, httpx.ReasonBodyTooLarge)
	})
	t.Run("415 wrong content type", func(t *testing.T) {
		s.send(t, http.MethodPost, "/api/v1/auth/login", "", `{"email":"a@example.com","password":"x"}`,
			"Content-Type", "application/x-www-form-urlencoded").
			wantProblem(t, http.StatusUnsupportedMediaType, httpx.ReasonUnsupportedMediaType)
	})
	t.Run("422 idempotency key reused for another stock change", func(t *testing.T) {
		key := "stock-" + uuid.NewString()
		s.send(t, http.MethodPost, "/api/v1/products/"+scarce+"/stock", admin, `{"delta":1}`, "Idempotency-Key", key).want(t, http.StatusOK)
		s.send(t, http.MethodPost, "/api/v1/products/"+scarce+"/stock", admin, `{"delta":2}`, "Idempotency-Key", key).
			wantProblem(t, http.StatusUnprocessableEntity, productsclient.ReasonIdempotencyKeyReused)
	})
}

// frontProblemFields are the fields a 400's errors name.
func frontProblemFields(r frontReply) []string {
	var fields []string
	list, _ := r.Body["errors"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if f, ok := m["field"].(string); ok {
			fields = append(fields, f)
		}
	}
	return fields
}

// tracing: every answer carries X-Request-ID (the caller's when sent) and
// a traceparent; a W3C or B3 trace sent in is continued, and a problem's
// trace_id is that trace.
func (s *storefront) tracing(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	for name, c := range map[string]struct {
		header  []string
		traceID string
	}{
		"W3C traceparent":       {[]string{"traceparent", "00-" + traceID + "-00f067aa0ba902b7-01"}, traceID},
		"B3 single header":      {[]string{"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}, "80f198ee56343ba864fe8b2a57d3eff7"},
		"B3 multiple headers":   {[]string{"X-B3-TraceId", "463ac35c9f6413ad48485a3953bb6124", "X-B3-SpanId", "a2fb4a1d1a96d312", "X-B3-Sampled", "1"}, "463ac35c9f6413ad48485a3953bb6124"},
		"64-bit B3 trace id":    {[]string{"X-B3-TraceId", "a3ce929d0e0e4736", "X-B3-SpanId", "a2fb4a1d1a96d312"}, "0000000000000000a3ce929d0e0e4736"},
		"no trace: a new one":   {nil, ""},
		"malformed traceparent": {[]string{"traceparent", "00-zz-00f067aa0ba902b7-01"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/products", "/api/v1/nowhere"} {
				requestID := "req-" + uuid.NewString()
				r := s.send(t, http.MethodGet, path, "", "", append([]string{"X-Request-ID", requestID}, c.header...)...)
				if got := r.Header.Get("X-Request-ID"); got != requestID {
					t.Errorf("GET %s: X-Request-ID %q, want the one sent, %q", path, got, requestID)
				}
				tp := r.Header.Get("traceparent")
				if _, ok := tracing.ParseTraceparent(tp); !ok {
					t.Fatalf("GET %s: traceparent %q", path, tp)
				}
				got := tp[3:35] // the trace id, as a W3C header writes it
				if c.traceID != "" && got != c.traceID {
					t.Errorf("GET %s: trace %s, want the caller's %s continued", path, got, c.traceID)
				}
				if c.traceID == "" && (got == traceID || strings.Trim(got, "0") == "") {
					t.Errorf("GET %s: trace %s, want a new one", path, got)
				}
				if r.Status >= 400 && r.Body["trace_id"] != got {
					t.Errorf("GET %s: problem trace_id %v, want the response's trace %s", path, r.Body["trace_id"], got)
				}
			}
		})
	}
	t.Run("the trace and the request id reach the backend", func(t *testing.T) {
		// The backend logs a failed call with both: the line proves the
		// gateway's gRPC call carried them.
		trace := strings.ReplaceAll(uuid.NewString(), "-", "")
		requestID := "req-" + uuid.NewString()
		s.send(t, http.MethodGet, "/api/v1/products/"+uuid.NewString(), "", "",
			"traceparent", "00-"+trace+"-00f067aa0ba902b7-01", "X-Request-ID", requestID).
			wantProblem(t, http.StatusNotFound, productsclient.ReasonProductNotFound)
		log := s.p.procs["products"][0].log
		kittest.WaitFor(t, 5*time.Second, "products logging the call with the caller's trace and request id", func() bool {
			b, err := os.ReadFile(log)
			if err != nil {
				return false
			}
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `"trace_id":"`+trace+`"`) && strings.Contains(line, `"request_id":"`+requestID+`"`) {
					return true
				}
			}
			return false
		})
	})
	t.Run("unacceptable request ids are replaced", func(t *testing.T) {
		for _, id := range []string{strings.Repeat("x", 129), "two words"} {
			r := s.send(t, http.MethodGet, "/api/v1/products", "", "", "X-Request-ID", id)
			if got := r.Header.Get("X-Request-ID"); got == id || got == "" {
				t.Errorf("X-Request-ID %q came back as %q, want a new id", frontShorten(id), got)
			}
		}
	})
}

// rateLimit: a client in a tiny tier (burst 2, one a second) is refused
// its third request at once with 429 and the headers, and is served
// again after the refill; an unknown key is 401.
func (s *storefront) rateLimit(t *testing.T) {
	get := func() frontReply {
		return s.send(t, http.MethodGet, "/api/v1/products?page_size=1", "", "", "X-API-Key", frontTinyKey)
	}
	var refused frontReply
	for i := 0; refused.Status == 0; i++ {
		r := get()
		for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			if _, err := strconv.ParseInt(r.Header.Get(h), 10, 64); err != nil {
				t.Fatalf("request %d: header %s %q", i+1, h, r.Header.Get(h))
			}
		}
		switch {
		case r.Status == http.StatusTooManyRequests:
			refused = r
		case i >= 2:
			t.Fatalf("request %d of a burst of 2: %d, want 429", i+1, r.Status)
		default:
			r.want(t, http.StatusOK)
		}
	}
	refused.wantProblem(t, http.StatusTooManyRequests, errs.ReasonRateLimited)
	retry, err := strconv.Atoi(refused.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 seconds at one request a second", refused.Header.Get("Retry-After"))
	}
	if refused.Header.Get("RateLimit-Limit") != "2" || refused.Header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("429 headers %v, want limit 2 and nothing remaining", refused.Header)
	}
	if reset, _ := strconv.ParseInt(refused.Header.Get("X-RateLimit-Reset"), 10, 64); reset < time.Now().Unix() {
		t.Errorf("X-RateLimit-Reset %d is in the past", reset)
	}
	kittest.WaitFor(t, 5*time.Second, "the tiny client served after the refill", func() bool { return get().Status == http.StatusOK })

	// Anonymous clients are limited too, in their (here generous) tier.
	if r := s.send(t, http.MethodGet, "/api/v1/products?page_size=1", "", ""); r.Header.Get("RateLimit-Limit") != "100000" {
		t.Errorf("anonymous RateLimit-Limit %q, want the configured burst 100000", r.Header.Get("RateLimit-Limit"))
	}
	s.send(t, http.MethodGet, "/api/v1/products", "", "", "X-API-Key", "no-such-key").
		wantProblem(t, http.StatusUnauthorized, ratelimit.ReasonInvalidAPIKey)
}

// deadline: a route that runs out of its deadline is 504
// DEADLINE_EXCEEDED. A second gateway, whose reads have a deadline no call
// can meet, stands in for a slow backend; it is stopped afterwards.
func (s *storefront) deadline(t *testing.T) {
	in := s.p.startGateway("KITSHOP_GATEWAY_READ_TIMEOUT=1ns")
	defer func() {
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		_ = in.cmd.Wait()
	}()
	hasty := &storefront{p: s.p, base: "https://" + in.httpAddr, client: s.client, rec: s.rec}
	kittest.WaitFor(t, 30*time.Second, "the second gateway serving", func() bool {
		resp, err := s.client.Get(hasty.base + "/health/live")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	r := hasty.send(t, http.MethodGet, "/api/v1/products", "", "").wantProblem(t, http.StatusGatewayTimeout, errs.ReasonDeadline)
	if r.Header.Get("X-Request-ID") == "" || r.Header.Get("traceparent") == "" {
		t.Errorf("504 without an id or a trace: %v", r.Header)
	}
	// The deadline is the reads': writes keep theirs on that gateway.
	hasty.login(t, adminEmail, adminPassword)
}

// noInstances: a backend with no instance left is 503 with Retry-After,
// answered by the gateway, and the gateway's readiness says which. It
// stops payments for good, so it runs after everything that pays. (Breakers,
// restarts and deadlines are the resilience tests'.)
func (s *storefront) noInstances(t *testing.T) {
	owner := s.register(t, "Unlucky")
	paid := s.send(t, http.MethodPost, "/api/v1/orders", owner.token,
		frontOrder(s.createProduct(t, s.adminToken(t), 1), 1, cardApproved)).want(t, http.StatusCreated)
	path := "/api/v1/payments/" + paid.str("payment_id")
	s.send(t, http.MethodGet, path, owner.token, "").want(t, http.StatusOK)

	s.p.stopAll("payments")
	var r frontReply
	kittest.WaitFor(t, 15*time.Second, "503 for payments without instances", func() bool {
		r = s.send(t, http.MethodGet, path, owner.token, "")
		if r.Status != http.StatusServiceUnavailable && r.Status != http.StatusOK {
			t.Fatalf("payment read while payments stops: %d %s", r.Status, r.Raw)
		}
		return r.Status == http.StatusServiceUnavailable
	})
	r.wantProblem(t, http.StatusServiceUnavailable, sd.ReasonServiceUnavailable)
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("503 Retry-After %q, want whole seconds", r.Header.Get("Retry-After"))
	}
	t.Logf("payments without instances: 503 %s", r.Raw)

	// Other backends are unaffected.
	s.send(t, http.MethodGet, "/api/v1/orders/"+paid.str("id"), owner.token, "").want(t, http.StatusOK)
	ready := s.send(t, http.MethodGet, "/health/ready", "", "").want(t, http.StatusServiceUnavailable)
	if !strings.Contains(string(ready.Raw), "payments") {
		t.Errorf("readiness %s does not name payments", ready.Raw)
	}
}

// frontStatuses are the statuses of API.md's tables that a client can
// be answered (500, "anything else", is the one it must never see).
var frontStatuses = []int{200, 201, 202, 400, 401, 402, 403, 404, 405, 409, 413, 415, 422, 429, 503, 504}

// statusesSeen: every status of API.md came back from the gateway in one
// of the subtests, and 500 never did.
func (s *storefront) statusesSeen(t *testing.T) {
	seen := map[int]int{}
	for _, x := range s.rec.exchanges() {
		seen[x.status]++
		if x.status >= 500 && x.status != http.StatusServiceUnavailable && x.status != http.StatusGatewayTimeout {
			t.Errorf("%s %s answered %d", x.method, frontShorten(x.path), x.status)
		}
	}
	for _, status := range frontStatuses {
		if seen[status] == 0 {
			t.Errorf("no response had status %d", status)
		}
	}
	t.Logf("statuses seen (status: responses): %v", seen)
}

// everyResponseTraced: every response the storefront received carried
// X-Request-ID and a valid traceparent, errors, preflights and refusals
// included. The one exception is what net/http answers before any
// handler runs (431 for oversized headers, kit/httpx's doc says so).
func (s *storefront) everyResponseTraced(t *testing.T) {
	for _, x := range s.rec.exchanges() {
		if x.status == http.StatusRequestHeaderFieldsTooLarge {
			continue
		}
		_, ok := tracing.ParseTraceparent(x.header.Get("traceparent"))
		if x.header.Get("X-Request-ID") == "" || !ok {
			t.Errorf("%s %s (%d): X-Request-ID %q, traceparent %q", x.method, frontShorten(x.path), x.status,
				x.header.Get("X-Request-ID"), x.header.Get("traceparent"))
		}
	}
}
