package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// TestGatewayResilienceAndLimits runs the gateway's resilience and
// rate-limit checks from the outside, on one platform (building and
// starting it costs more than all the checks together): one instance
// each of users, products, payments and orders, and one gateway whose
// tiers have a tiny anonymous tier, a shared cluster tier, and the
// unlimited tier of edgeKey for the checks that are not about limits.
// The order matters: the limits first, while one gateway runs (the
// cluster check starts a second); the breaker last, as it kills every
// products instance.
func TestGatewayResilienceAndLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	p := launch(t, platformConfig{instances: 1, orders: 1, gateways: 1, breakerOpen: 2 * time.Second,
		gatewayEnv: append(edgeLimitsEnv(t, limitTiers, limitKeys...),
			// A short open timeout: the breaker probes products soon
			// after it is back, instead of the production minute.
			"KITSHOP_BREAKER_OPEN_TIMEOUT="+breakerOpenTimeout.String())})
	r := &edgeRig{p: p, s: openShop(t, p, 1), gw: newEdge(p, 0)}
	r.pid = r.s.productID[0]
	t.Run("anonymous tier", r.testAnonymousLimit)
	t.Run("cluster share", r.testClusterLimit)
	t.Run("load balancing", r.testLoadBalancing)
	t.Run("breaker", r.testBreaker)
}

// edgeRig is the platform TestGatewayResilienceAndLimits checks, with a
// product to read and a client of the first gateway.
type edgeRig struct {
	p   *platform
	s   *shop
	pid string
	gw  *edge
}

// breakerOpenTimeout is the gateway's KITSHOP_BREAKER_OPEN_TIMEOUT here.
const breakerOpenTimeout = 3 * time.Second

// testBreaker kills every products instance (kill -9, so they stay
// registered until their leases expire) and checks the gateway's breaker
// on products from the outside: product reads turn into fast 503
// SERVICE_UNAVAILABLE answers with Retry-After, an order read still answers 200
// with its items as placed and a Warning, and once products is back the
// breaker closes and reads and enrichment work again, all of it visible
// in kitshop_breaker_state.
func (r *edgeRig) testBreaker(t *testing.T) {
	p, s, pid, gw := r.p, r.s, r.pid, r.gw
	placed, err := s.orders.CreateOrder(withDeadline(s.customer, 30*time.Second), orderRequest(pid, 1, cardApproved))
	if err != nil || placed.GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("placing the order: %v %v, want CONFIRMED", err, placed.GetOrder().GetStatus())
	}
	orderID, placedName := placed.GetOrder().GetId(), placed.GetOrder().GetItems()[0].GetName()
	// Renamed after the order was placed, so an enriched item (the
	// catalog's current name) differs from an unenriched one (the name
	// the order recorded).
	renamed := placedName + " (renamed)"
	// The test's own client sends an unkeyed write once: while the
	// instance killed by the load-balancing check is still registered
	// (its lease runs 10 s) a rename may land on it, so it is repeated,
	// which setting the same name allows.
	var renameErr error
	kittest.WaitFor(t, 20*time.Second, "the product renamed", func() bool {
		_, renameErr = s.products.UpdateProduct(withDeadline(s.admin, 10*time.Second),
			&productsv1.UpdateProductRequest{Id: pid, Name: &renamed})
		return renameErr == nil
	})

	customer := auth.TokenFrom(s.customer)
	productPath, orderPath := "/api/v1/products/"+pid, "/api/v1/orders/"+orderID
	if a := gw.get(t, productPath, ""); a.status != http.StatusOK {
		t.Fatalf("product read before the outage: %d %v", a.status, a.body)
	}
	wantOrderItemName(t, gw.get(t, orderPath, customer), renamed, false)

	for _, in := range p.procs["products"] {
		if in.cmd.ProcessState == nil {
			_ = in.cmd.Process.Signal(syscall.SIGKILL)
			_ = in.cmd.Wait()
		}
	}
	// Until the breaker opens the answers are the failed calls that open
	// it (the instance refuses connections): 503s too, whose codes are
	// logged.
	var open edgeAnswer
	before := map[string]int{}
	kittest.WaitFor(t, 20*time.Second, "the gateway's products breaker to open", func() bool {
		open = gw.get(t, productPath, "")
		before[fmt.Sprintf("%d %v", open.status, open.body["code"])]++
		if open.status != http.StatusServiceUnavailable || open.header.Get("Retry-After") == "" {
			t.Fatalf("product read with products down: %d (Retry-After %q) %v, want 503 with Retry-After",
				open.status, open.header.Get("Retry-After"), open.body)
		}
		return open.body["code"] == sd.ReasonServiceUnavailable
	})
	t.Logf("answers until the breaker opened: %v", before)
	wantBreakerOpen(t, open, breakerOpenTimeout)
	if st := gw.metric(t, "kitshop_breaker_state", `backend="products"`); st != 2 {
		t.Errorf("kitshop_breaker_state{backend=\"products\"} = %v while open, want 2", st)
	}

	// The open breaker answers without the network. Measured back to back
	// within the open window; an answer after it (a half-open probe to the
	// dead instance) is not an open-breaker answer and is left out.
	var lat []time.Duration
	for range 60 {
		a := gw.get(t, productPath, "")
		if a.body["code"] != sd.ReasonServiceUnavailable {
			continue
		}
		wantBreakerOpen(t, a, breakerOpenTimeout)
		lat = append(lat, a.took)
	}
	if len(lat) < 20 {
		t.Fatalf("only %d of 60 reads answered SERVICE_UNAVAILABLE in the open window", len(lat))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("open-breaker answers through the gateway (HTTPS, keep-alive): p50 %v, p99 %v, max %v over %d reads (target < 10ms)",
		p50, p99, lat[len(lat)-1], len(lat))
	if p50 > 50*time.Millisecond {
		t.Errorf("open-breaker answers took %v (median), want fast (< 50ms)", p50)
	}

	// The order is the answer; the names are a courtesy.
	wantOrderItemName(t, gw.get(t, orderPath, customer), placedName, true)

	p.start("products")
	kittest.WaitFor(t, 30*time.Second, "product reads to succeed after products restarted", func() bool {
		return gw.get(t, productPath, "").status == http.StatusOK
	})
	// Closing takes the half-open probes' successes: keep reading.
	kittest.WaitFor(t, 15*time.Second, "kitshop_breaker_state{backend=\"products\"} back to 0", func() bool {
		if a := gw.get(t, productPath, ""); a.status != http.StatusOK {
			t.Logf("read while the breaker closes: %d %v", a.status, a.body["code"])
		}
		return gw.metric(t, "kitshop_breaker_state", `backend="products"`) == 0
	})
	for _, to := range []string{"open", "closed"} {
		if n := gw.metric(t, "kitshop_breaker_transitions_total", `backend="products"`, `to="`+to+`"`); n < 1 {
			t.Errorf("kitshop_breaker_transitions_total{backend=\"products\",to=%q} = %v, want >= 1", to, n)
		}
	}
	for range 10 {
		if a := gw.get(t, productPath, ""); a.status != http.StatusOK {
			t.Fatalf("product read after the breaker closed: %d %v", a.status, a.body)
		}
	}
	wantOrderItemName(t, gw.get(t, orderPath, customer), renamed, false)
}

// wantBreakerOpen checks an answer of the open breaker: 503 problem+json,
// code SERVICE_UNAVAILABLE (README, "The gateway"), and a
// Retry-After that says when the breaker probes again.
func wantBreakerOpen(t *testing.T, a edgeAnswer, openTimeout time.Duration) {
	t.Helper()
	if a.status != http.StatusServiceUnavailable || a.header.Get("Content-Type") != "application/problem+json" ||
		a.body["status"] != float64(http.StatusServiceUnavailable) {
		t.Fatalf("open breaker answered %d %q %v, want a 503 problem", a.status, a.header.Get("Content-Type"), a.body)
	}
	ra, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || ra < 1 || time.Duration(ra)*time.Second > openTimeout {
		t.Fatalf("open breaker's Retry-After %q, want whole seconds in 1..%v", a.header.Get("Retry-After"), openTimeout)
	}
}

// wantOrderItemName checks an order read through the gateway: 200 with
// the item named name, and a Warning exactly when unenriched.
func wantOrderItemName(t *testing.T, a edgeAnswer, name string, unenriched bool) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("order read: %d %v, want 200", a.status, a.body)
	}
	items, _ := a.body["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("order read: items %v, want 1", a.body["items"])
	}
	if got := items[0].(map[string]any)["name"]; got != name {
		t.Errorf("order item name %q, want %q (unenriched: %v)", got, name, unenriched)
	}
	warning := a.header.Get("Warning")
	switch {
	case unenriched && !strings.Contains(warning, "not enriched"):
		t.Errorf("unenriched order read has Warning %q, want one saying so", warning)
	case !unenriched && warning != "":
		t.Errorf("enriched order read has Warning %q", warning)
	}
}

// testLoadBalancing checks the gateway's round-robin over products'
// instances from their own request counters: two instances share reads
// evenly, a third gets traffic soon after registering, and a kill -9 of
// one during a read loop costs no read (the registry still lists it until
// its lease expires: retries carry the reads meanwhile).
func (r *edgeRig) testLoadBalancing(t *testing.T) {
	p, gw := r.p, r.gw
	path := "/api/v1/products/" + r.pid
	p.start("products")
	p.waitInstances("products", 2)
	insts := p.instances("products")
	served := func(in sd.Instance) float64 {
		return p.metric(in, "products", `method="GetProduct"`, `transport="endpoint"`)
	}
	// The gateway follows the registry on its own schedule: read until it
	// sends to both.
	kittest.WaitFor(t, 10*time.Second, "reads through the gateway reaching both products instances", func() bool {
		gw.mustGet(t, path, http.StatusOK)
		return served(insts[0]) > 0 && served(insts[1]) > 0
	})

	const reads = 200
	base := []float64{served(insts[0]), served(insts[1])}
	for range reads {
		gw.mustGet(t, path, http.StatusOK)
	}
	got := []float64{served(insts[0]) - base[0], served(insts[1]) - base[1]}
	t.Logf("%d reads through the gateway: %v per products instance", reads, got)
	for i, n := range got {
		if share := n / (got[0] + got[1]); share < 0.35 || share > 0.65 {
			t.Errorf("instance %d served %v of %v reads (%.0f%%), want 35..65%%", i, n, got[0]+got[1], 100*share)
		}
	}
	if got[0]+got[1] < reads {
		t.Errorf("products served %v reads, want at least the %d sent", got[0]+got[1], reads)
	}

	// A third instance, started while reads keep coming.
	loop := startReadLoop(gw, path, 2)
	defer loop.stop()
	known := map[string]bool{insts[0].ID: true, insts[1].ID: true}
	p.start("products")
	var third sd.Instance
	kittest.WaitFor(t, 30*time.Second, "a third products instance registered", func() bool {
		for _, in := range p.instances("products") {
			if !known[in.ID] {
				third = in
				return true
			}
		}
		return false
	})
	listed := time.Now()
	kittest.WaitFor(t, 5*time.Second, "reads reaching the third instance", func() bool { return served(third) > 0 })
	// The key was put between the instance's registered_at stamp (taken
	// before its readiness checks) and the registry view listing it, so
	// the latency is between these two.
	first := time.Now()
	t.Logf("the third instance got its first read %v after the registry view listed it, %v after its registered_at stamp (target 1s)",
		first.Sub(listed), first.Sub(third.RegisteredAt))
	if took := first.Sub(listed); took > time.Second {
		t.Errorf("the third instance got traffic %v after registering, want within 1s", took)
	}

	// kill -9 of an instance in the middle of the loop.
	atKill := loop.ok.Load()
	victim := p.procs["products"][0]
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	_ = victim.cmd.Wait()
	kittest.WaitFor(t, 60*time.Second, "300 reads after the kill", func() bool {
		return loop.ok.Load() >= atKill+300 || loop.failed.Load() > 20
	})
	loop.stop()
	t.Logf("reads: %d answered 200, %d failed (%d after the kill -9)", loop.ok.Load(), loop.failed.Load(), loop.ok.Load()-atKill)
	if n := loop.failed.Load(); n != 0 {
		t.Errorf("%d reads failed around the kill -9, want none; first: %v", n, loop.firstFailures())
	}
}

// readLoop sends GETs from a few workers until stopped, counting answers.
type readLoop struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
	done       chan struct{}
	wg         sync.WaitGroup
	once       sync.Once
}

func startReadLoop(e *edge, path string, workers int) *readLoop {
	l := &readLoop{done: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.done:
					return
				default:
				}
				a, err := e.do(http.MethodGet, path, "")
				switch {
				case err != nil:
					l.fail(err.Error())
				case a.status != http.StatusOK:
					l.fail(fmt.Sprintf("%d %v", a.status, a.body))
				default:
					l.ok.Add(1)
				}
			}
		}()
	}
	return l
}

func (l *readLoop) fail(what string) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) < 5 {
		l.failures = append(l.failures, what)
	}
}

func (l *readLoop) firstFailures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.failures)
}

// stop ends the loop and waits for its workers; it may be called again.
func (l *readLoop) stop() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
}

// edgeKey is the X-API-Key edgeLimitsEnv binds to a tier far above any
// test's traffic: the tests that are not about limits send it, so the
// anonymous tier (10 a minute) never answers them 429.
const edgeKey = "e2e-unlimited"

// edgeLimitsEnv returns the gateway settings for a KITSHOP_RATE_TIERS file
// with the unlimited tier of edgeKey and the tiers in extraTiers (JSON
// members, e.g. `"anonymous": {"per_minute": 60, "burst": 5}`), and
// KITSHOP_API_KEYS binding edgeKey and extraKeys ("key:tier").
func edgeLimitsEnv(t testing.TB, extraTiers string, extraKeys ...string) []string {
	t.Helper()
	tiers := `"e2e-unlimited": {"per_minute": 100000000, "burst": 100000000}`
	if extraTiers != "" {
		tiers += ", " + extraTiers
	}
	path := filepath.Join(t.TempDir(), "tiers.json")
	if err := os.WriteFile(path, []byte("{"+tiers+"}"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := append([]string{edgeKey + ":e2e-unlimited"}, extraKeys...)
	return []string{"KITSHOP_RATE_TIERS=" + path, "KITSHOP_API_KEYS=" + strings.Join(keys, ",")}
}

// edge is a public client of one gateway, sending apiKey (edgeKey unless
// changed; "" for an anonymous client).
type edge struct {
	base   string
	client *http.Client
	apiKey string
}

func newEdge(p *platform, i int) *edge {
	return &edge{base: p.gatewayURL(i), client: p.public(), apiKey: edgeKey}
}

// edgeAnswer is a response read whole, with how long it took.
type edgeAnswer struct {
	status int
	header http.Header
	body   map[string]any
	took   time.Duration
}

// do sends method path with the bearer token (unless empty).
func (e *edge) do(method, path, token string) (edgeAnswer, error) {
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		return edgeAnswer{}, err
	}
	if e.apiKey != "" {
		req.Header.Set("X-API-Key", e.apiKey)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return edgeAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := edgeAnswer{status: resp.StatusCode, header: resp.Header, took: time.Since(start)}
	if err != nil {
		return a, err
	}
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			return a, fmt.Errorf("%s %s: body is not a JSON object: %q", method, path, raw)
		}
	}
	return a, nil
}

// get is do for GET, failing the test when no answer comes.
func (e *edge) get(t testing.TB, path, token string) edgeAnswer {
	t.Helper()
	a, err := e.do(http.MethodGet, path, token)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return a
}

// mustGet is get failing the test unless the status is want.
func (e *edge) mustGet(t testing.TB, path string, want int) edgeAnswer {
	t.Helper()
	a := e.get(t, path, "")
	if a.status != want {
		t.Fatalf("GET %s: %d %v, want %d", path, a.status, a.body, want)
	}
	return a
}

// metric sums the samples of family on the gateway's /metrics (its HTTP
// port) whose labels contain every part of match (a family without
// labels has one sample).
func (e *edge) metric(t testing.TB, family string, match ...string) float64 {
	t.Helper()
	resp, err := e.client.Get(e.base + "/metrics")
	if err != nil {
		t.Fatalf("gateway metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("gateway metrics: %d %v", resp.StatusCode, err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		sample := strings.HasPrefix(line, family+"{") || strings.HasPrefix(line, family+" ")
		if sample && containsAll(line, match) {
			sum += parseValue(line)
		}
	}
	return sum
}
