package console

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/saga"
)

const (
	activeOrder    = "11111111-1111-4111-8111-111111111111"
	attentionOrder = "22222222-2222-4222-8222-222222222222"
	activeTrace    = "4bf92f3577b34da6a3ce929d0e0e4736"
)

// fakeOrders answers /debug/sagas as orders does, for the admin token
// only, and counts what it was asked.
type fakeOrders struct {
	asked atomic.Int32
	limit atomic.Value // the last limit asked for
}

func (f *fakeOrders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/debug/sagas" {
		http.NotFound(w, r)
		return
	}
	f.asked.Add(1)
	f.limit.Store(r.URL.Query().Get("limit"))
	if r.Header.Get("Authorization") != "Bearer "+adminToken {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"status":401,"code":"UNAUTHENTICATED","detail":"authentication required"}`))
		return
	}
	now := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	type item struct {
		OrderID string     `json:"order_id"`
		Kind    string     `json:"kind"`
		State   saga.State `json:"state"`
	}
	var sagas []item
	switch state := r.URL.Query().Get("state"); state {
	case "active":
		sagas = append(sagas, item{activeOrder, "checkout", saga.State{
			ID: activeOrder, Definition: "checkout", Status: saga.Running, UpdatedAt: now,
			Trace: "00-" + activeTrace + "-00f067aa0ba902b7-01",
			Steps: []saga.StepState{{Name: "validate_user", Status: saga.StepDone, Attempts: 1}, {Name: "charge", Status: saga.StepStarted, Attempts: 3}},
		}})
	case "attention":
		sagas = append(sagas, item{attentionOrder, "checkout", saga.State{
			ID: attentionOrder, Definition: "checkout", Status: saga.RequiresAttention, UpdatedAt: now,
			Trace:     "not-a-traceparent",
			Failure:   &saga.Problem{Step: "charge", Kind: "FailedPrecondition", Reason: "CARD_DECLINED"},
			Attention: &saga.Problem{Step: "release_reservation", Kind: "Unavailable", Reason: "UNAVAILABLE"},
		}})
	case "failed":
	default:
		http.Error(w, "bad state", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"filter": r.URL.Query().Get("state"), "sagas": sagas})
}

// gatewayMetrics registers the real breaker and limiter families in a
// fresh registry: payments' breaker open, one anonymous request refused.
func gatewayMetrics(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	b, err := metrics.NewBreakers(reg, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"users", "products", "orders", "payments"} {
		b.Track(backend)
	}
	b.Changed("payments", "open")
	b.Changed("orders", "open")
	b.Changed("orders", "half-open")
	tiers := ratelimit.DefaultTiers()
	tiers[ratelimit.Anonymous] = ratelimit.Tier{Name: ratelimit.Anonymous, PerMinute: 1, Burst: 1}
	l, err := ratelimit.New(ratelimit.Config{Tiers: tiers, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	c, err := l.Identify(req)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Allow(c).Allowed || l.Allow(c).Allowed {
		t.Fatal("the anonymous tier of burst 1 did not admit one request and refuse the next")
	}
	return reg
}

// An admin sees every section filled from its real source.
func TestAdminSeesThePlatform(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	users1 := p.instance("users", "v1.4.0", http.StatusOK)
	users2 := p.instance("users", "v1.5.0-rc1", http.StatusServiceUnavailable)
	// An address in the registry is not an identity: a server whose
	// certificate names another service is not probed as users.
	impostor := p.serve("products", readyHandler(http.StatusOK, nil))
	users3 := p.register("users", "v1.4.0", impostor.Listener.Addr().String())
	orders := &fakeOrders{}
	ordersSrv := p.serve("orders", readyHandler(http.StatusOK, orders))
	p.register("orders", "v2.0.0", ordersSrv.Listener.Addr().String())
	p.register("search", "v0.1.0", "not an address")
	p.put(RolloutPrefix+"products", `{"service":"products","weights":{"v1":95,"v2":5},"state":"running","step":1,"stable":"v1","canary":"v2","decisions":[{"at":"x"}]}`)
	p.put(RolloutPrefix+"users", `{"weights":"all of them"}`)
	p.put(RolloutPrefix+"payments", `garbage`)

	srv := consoleServer(t, p.config(gatewayMetrics(t)))
	a := get(t, srv, "/console", "admin")
	if a.status != http.StatusOK {
		t.Fatalf("admin: status %d\n%s", a.status, a.body)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", a.header.Get("Cache-Control"))
	}
	assertNoInlineCode(t, a.body)
	body := a.body

	// Instances: versions, each instance's verdict, the missing services.
	wantContains(t, body,
		`<h3 id="svc-users">users <span class="summary">1/3 ready · versions v1.4.0, v1.5.0-rc1</span>`,
		`<h3 id="svc-orders">orders <span class="summary">1/1 ready · versions v2.0.0</span>`,
		`<h3 id="svc-payments">payments <span class="summary">0/0 ready</span>`,
		`<h3 id="svc-search">search`, "registered without a usable HTTP address",
		"postgres: timed out",
	)
	wantRow(t, body, users1.ID, `class="health ready"`)
	wantRow(t, body, users2.ID, `class="health not-ready"`)
	wantRow(t, body, users3.ID, `class="health unreachable"`)
	if i, j := strings.Index(body, `id="svc-gateway"`), strings.Index(body, `id="svc-search"`); i < 0 || j < i {
		t.Error("the configured services do not come first")
	}

	// Breakers and rejections.
	wantContains(t, body,
		`<tr><td>gateway</td><td>payments</td><td><span class="breaker open">open</span></td><td>1</td></tr>`,
		`<tr><td>gateway</td><td>orders</td><td><span class="breaker half-open">half-open</span></td><td>1</td></tr>`,
		`<tr><td>gateway</td><td>users</td><td><span class="breaker closed">closed</span></td><td>0</td></tr>`,
		`<tr><td>anonymous</td><td>1</td><td class="warn">1</td></tr>`,
		`<tr><td>pro</td><td>0</td><td>0</td></tr>`,
	)

	// Sagas, with the admin's token forwarded and trace links.
	wantContains(t, body,
		`<a href="http://zipkin.test:9411/zipkin/traces/`+activeTrace+`" rel="noopener noreferrer" target="_blank"><code>`+activeTrace+`</code></a>`,
		`title="`+activeOrder+`"`, `title="`+attentionOrder+`"`,
		"charge: started ×3",
		"failed at charge: CARD_DECLINED; compensation stuck at release_reservation: UNAVAILABLE",
		`<h3 id="sagas-failed-h">Failed (compensated) <span class="summary">0</span></h3>`,
	)
	if n := orders.asked.Load(); n != 3 {
		t.Errorf("orders was asked %d times, want once per state", n)
	}
	if l := orders.limit.Load(); l != "50" {
		t.Errorf("asked orders for limit %v, want the default 50", l)
	}

	// Rollouts: the split, the state fields, and what could not be read.
	wantContains(t, body,
		`<span class="version">v1</span> <meter min="0" max="100" value="95">95%</meter>`,
		`<span class="version">v2</span> <meter min="0" max="100" value="5">5%</meter>`,
		`<dt>state</dt><dd>running</dd>`, `<dt>step</dt><dd>1</dd>`, `<dt>stable</dt><dd>v1</dd>`, `<dt>canary</dt><dd>v2</dd>`,
		"weights are not a map of version to percent",
		"not a JSON object: garbage",
	)
	if strings.Contains(body, "decisions") {
		t.Error("an unknown rollout field is shown")
	}
}

// wantRow checks that the instance table row of id says want.
func wantRow(t *testing.T, body, id, want string) {
	t.Helper()
	i := strings.Index(body, `title="`+id+`"`)
	if i < 0 {
		t.Errorf("no row for instance %s", id)
		return
	}
	row := body[i:]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, want) {
		t.Errorf("row of %s lacks %q:\n%s", id, want, row)
	}
}

// Without a registry the console still serves, and says so where it
// matters; without a token, orders is not asked.
func TestNoRegistryNoToken(t *testing.T) {
	kittest.CheckGoroutines(t)
	srv := consoleServer(t, Config{Identify: fakeIdentify, Token: fakeToken})
	a := get(t, srv, "/console", "admin")
	if a.status != http.StatusOK {
		t.Fatalf("status %d", a.status)
	}
	if n := strings.Count(a.body, errNoRegistry); n != 5 { // instances, rollouts, three saga states
		t.Fatalf("%q shown %d times, want 5:\n%s", errNoRegistry, n, a.body)
	}
	wantContains(t, a.body, "no metrics registry configured", "Set KITSHOP_ZIPKIN_UI_URL")

	p := newPlatform(t)
	orders := &fakeOrders{}
	p.register("orders", "v1", p.serve("orders", orders).Listener.Addr().String())
	cfg := p.config(nil)
	cfg.Token = nil
	a = get(t, consoleServer(t, cfg), "/console", "admin")
	wantContains(t, a.body, "no access token to forward to orders")
	if orders.asked.Load() != 0 {
		t.Fatal("orders was asked without a token")
	}
	// A token orders refuses is shown as orders' answer.
	cfg.Token = func(*http.Request) string { return "stale" }
	a = get(t, consoleServer(t, cfg), "/console", "admin")
	wantContains(t, a.body, "answered 401 Unauthorized UNAUTHENTICATED: authentication required")
}
