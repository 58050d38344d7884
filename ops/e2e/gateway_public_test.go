package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The gateway's public tests share one platform: one instance of each
// service (orders included), products seeded with the demo catalog, and
// one gateway whose rate tiers are generous for everyone but the client
// with the tiny key, and which allows one CORS origin.
const (
	// frontTinyKey is an API key in the tiny tier: a burst of 2, one
	// request a second, so a test sees 429 on its third request and
	// recovers within a second.
	frontTinyKey = "tiny-client-key"
	frontOrigin  = "https://shop.example"
	frontTiers   = `{"anonymous": {"per_minute": 1000000, "burst": 100000}, "tiny": {"per_minute": 60, "burst": 2}}`
)

// TestGatewayPublicAPI is API.md, end to end, through the gateway: real
// processes, real Postgres, embedded etcd, HTTPS with the development CA.
// The subtests share the platform, not data: each makes its own accounts
// and products. The order matters in three places: the README session
// runs first, so the catalog it lists is the demo one; the backend
// outage runs after everything that needs payments; the summaries run
// last, over every exchange the others made.
func TestGatewayPublicAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	tiers := filepath.Join(t.TempDir(), "tiers.json")
	if err := os.WriteFile(tiers, []byte(frontTiers), 0o600); err != nil {
		t.Fatal(err)
	}
	p := launch(t, platformConfig{
		instances: 1, orders: 1, gateways: 1,
		productsEnv: []string{"KITSHOP_PRODUCTS_SEED_DEMO=1"},
		gatewayEnv: []string{
			"KITSHOP_RATE_TIERS=" + tiers, "KITSHOP_API_KEYS=" + frontTinyKey + ":tiny",
			"KITSHOP_CORS_ORIGINS=" + frontOrigin,
		},
	})
	s := newStorefront(p, p.gatewayURL(0))

	t.Run("README session", s.journey)
	t.Run("order reads are enriched from the catalog", s.enrichment)
	t.Run("contracts", s.contracts)
	t.Run("statuses", s.statuses)
	t.Run("request ids and traces", s.tracing)
	t.Run("rate limit", s.rateLimit)
	t.Run("deadline", s.deadline)
	t.Run("auth", s.auth)
	t.Run("probes", s.probes)
	t.Run("parameters are checked before any backend call", s.parametersCheckedFirst)
	t.Run("CORS", s.cors)
	t.Run("backend without instances", s.noInstances)
	t.Run("OpenAPI", s.openAPI)
	t.Run("every status of API.md seen", s.statusesSeen)
	t.Run("every response has an id and a trace", s.everyResponseTraced)
}

// storefront is the platform as a customer sees it: one gateway's base
// URL and an HTTPS client that records every exchange it makes.
type storefront struct {
	p      *platform
	base   string
	client *http.Client
	rec    *frontRecorder
}

func newStorefront(p *platform, base string) *storefront {
	client := p.public()
	rec := &frontRecorder{}
	client.Transport = rec.wrap(client.Transport)
	// A probe that hangs must fail the test, not stall it.
	client.Timeout = 20 * time.Second
	return &storefront{p: p, base: base, client: client, rec: rec}
}

// frontExchange is one request the storefront sent and what came back.
type frontExchange struct {
	method, path string
	status       int
	header       http.Header
}

// frontRecorder is an http.RoundTripper that keeps every exchange, so the
// last subtests can check what all the others saw: the routes exercised
// against the OpenAPI document, the statuses against API.md, the headers
// every response must carry.
type frontRecorder struct {
	mu   sync.Mutex
	seen []frontExchange
}

// wrap returns next, recording its exchanges.
func (r *frontRecorder) wrap(next http.RoundTripper) http.RoundTripper {
	return frontRoundTrip(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.seen = append(r.seen, frontExchange{method: req.Method, path: req.URL.Path, status: resp.StatusCode, header: resp.Header.Clone()})
		r.mu.Unlock()
		return resp, nil
	})
}

// frontRoundTrip is an http.RoundTripper made of a function.
type frontRoundTrip func(*http.Request) (*http.Response, error)

func (f frontRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (r *frontRecorder) exchanges() []frontExchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]frontExchange(nil), r.seen...)
}

// frontReply is a response read to the end.
type frontReply struct {
	Status int
	Header http.Header
	Raw    []byte
	// Body is the body decoded as a JSON object, nil when it is not one.
	Body map[string]any
}

// send sends method path with body and headers given as name, value
// pairs, plus "Authorization: Bearer token" unless token is empty. A
// non-empty body is JSON unless the pairs set Content-Type.
func (s *storefront) send(t testing.TB, method, path, token, body string, headerPairs ...string) frontReply {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, frontShorten(path), err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headerPairs); i += 2 {
		req.Header.Set(headerPairs[i], headerPairs[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.do(t, req)
}

// do sends req and reads the answer whole, failing the test when there
// is none within the client's timeout.
func (s *storefront) do(t testing.TB, req *http.Request) frontReply {
	t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %s", req.Method, frontShorten(req.URL.String()), frontShorten(err.Error()))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, frontShorten(req.URL.String()), err)
	}
	r := frontReply{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// want fails the test unless r has status.
func (r frontReply) want(t testing.TB, status int) frontReply {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, frontShorten(string(r.Raw)))
	}
	return r
}

// wantProblem fails the test unless r is a problem document of status
// with code.
func (r frontReply) wantProblem(t testing.TB, status int, code string) frontReply {
	t.Helper()
	r.want(t, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json: %s", ct, frontShorten(string(r.Raw)))
	}
	if r.Body["code"] != code || r.Body["status"] != float64(status) {
		t.Fatalf("problem %s, want code %s status %d", frontShorten(string(r.Raw)), code, status)
	}
	return r
}

// str reads a string member of the body (dotted: "user.id").
func (r frontReply) str(path string) string {
	var v any = r.Body
	for _, name := range strings.Split(path, ".") {
		obj, _ := v.(map[string]any)
		v = obj[name]
	}
	s, _ := v.(string)
	return s
}

// frontShorten keeps failure messages readable when a body or a URL is
// huge.
func frontShorten(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// frontAccount is a customer registered and logged in through the
// gateway.
type frontAccount struct{ id, email, token string }

// register creates a customer through the gateway and logs them in.
func (s *storefront) register(t testing.TB, name string) frontAccount {
	t.Helper()
	email := strings.ToLower(name) + "-" + uuid.NewString()[:8] + "@example.com"
	r := s.send(t, http.MethodPost, "/api/v1/users", "",
		`{"email":"`+email+`","password":"correct horse","name":"`+name+`"}`).want(t, http.StatusCreated)
	return frontAccount{id: r.str("id"), email: email, token: s.login(t, email, "correct horse")}
}

// login returns an access token for email.
func (s *storefront) login(t testing.TB, email, password string) string {
	t.Helper()
	return s.send(t, http.MethodPost, "/api/v1/auth/login", "",
		`{"email":"`+email+`","password":"`+password+`"}`).want(t, http.StatusOK).str("access_token")
}

// adminToken logs the bootstrap admin in.
func (s *storefront) adminToken(t testing.TB) string {
	t.Helper()
	return s.login(t, adminEmail, adminPassword)
}

// createProduct adds a product through the gateway as admin and returns
// its id.
func (s *storefront) createProduct(t testing.TB, admin string, stock int64) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"sku": "GW-" + uuid.NewString()[:13], "name": "Gateway test product", "description": "for the gateway tests",
		"category": "gateway-test", "price_cents": productPriceCent, "currency": "USD", "stock": stock,
	})
	return s.send(t, http.MethodPost, "/api/v1/products", admin, string(body)).want(t, http.StatusCreated).str("id")
}

// frontOrder is a POST /api/v1/orders body: quantity of productID, paid
// with card.
func frontOrder(productID string, quantity int, card string) string {
	b, _ := json.Marshal(map[string]any{
		"items": []any{map[string]any{"product_id": productID, "quantity": quantity}},
		"shipping_address": map[string]any{"line1": "1 Main St", "line2": "", "city": "Springfield", "state": "IL",
			"postal_code": "62701", "country": "US"},
		"payment": map[string]any{"card_number": card, "exp_month": 12, "exp_year": time.Now().Year() + 2, "cvc": "123"},
	})
	return string(b)
}
