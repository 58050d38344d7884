package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/kittest"
)

// promtoolPath is promtool's path, failing the test (never skipping it)
// when it is missing: the checks it makes are part of `make test`.
func promtoolPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH (%v): install Debian's prometheus package, which `make test` does through ops/install-deps.sh (bash ops/install-deps.sh)", err)
	}
	return path
}

// promtool runs promtool with args and stdin, bounded, and returns its
// combined output and whether it succeeded.
func promtool(t testing.TB, stdin []byte, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtoolPath(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// promConfigPath is ops/prometheus/prometheus.yml.
func promConfigPath(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test's source")
	}
	return filepath.Join(filepath.Dir(file), "..", "prometheus", "prometheus.yml")
}

// TestPrometheusConfigIsValid: ops/prometheus/prometheus.yml passes
// `promtool check config`. Syntax only: the CA file it names exists once
// `make run` made it, and the rule files are checked by their own test.
func TestPrometheusConfigIsValid(t *testing.T) {
	if out, ok := promtool(t, nil, "check", "config", "--syntax-only", promConfigPath(t)); !ok {
		t.Fatalf("promtool check config:\n%s", out)
	}
}

// promTarget is one entry of the registry's http_sd answer.
type promTarget struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// promOwnMetrics are the metrics each process must export after a
// checkout, beyond the RED and runtime ones every process has: the
// names the dashboard and alerts are written against (the metrics
// engineer's list in issue 9).
var promOwnMetrics = map[string][]string{
	"registry": {"kitshop_registry_instances"},
	"users":    {"go_sql_in_use_connections", "go_sql_idle_connections", "go_sql_wait_count_total", "go_sql_wait_duration_seconds_total"},
	"products": {"kitshop_products_reservations_held", "kitshop_products_reservations_expired_total", "go_sql_in_use_connections"},
	"payments": {"kitshop_payments_charges_total", "kitshop_payments_refunds_total", "go_sql_in_use_connections",
		"kitshop_breaker_state", "kitshop_retry_budget_exhausted_total"},
	"orders": {"kitshop_orders_placed_total", "kitshop_orders_requiring_attention", "kitshop_orders_sagas_total",
		"kitshop_saga_step_duration_seconds_bucket", "kitshop_saga_compensation_duration_seconds_bucket",
		"go_sql_in_use_connections", "kitshop_breaker_state", "kitshop_retry_budget_exhausted_total"},
	"gateway": {"kitshop_breaker_state", "kitshop_breaker_transitions_total", "kitshop_retry_budget_exhausted_total",
		"kitshop_ratelimit_admitted_total", "kitshop_ratelimit_rejected_total"},
}

// promEveryProcess are the metrics every process exports.
var promEveryProcess = []string{
	"kitshop_requests_total", "kitshop_request_duration_seconds_bucket", "go_goroutines", "go_memstats_heap_inuse_bytes",
	"process_resident_memory_bytes", "process_cpu_seconds_total",
}

// TestEveryProcessIsDiscoveredAndPassesPromtool runs the platform with
// one instance of each process, places an order through the gateway, and
// then scrapes as Prometheus does: the targets from the registry's
// http_sd endpoint (over HTTPS, trusting the platform CA, with no client
// certificate), each target's /metrics the same way. It checks that
// every instance is a target with its labels, that each /metrics passes
// `promtool check metrics`, and that each exports its own metrics,
// including the per-route RED of the route the order took.
func TestEveryProcessIsDiscoveredAndPassesPromtool(t *testing.T) {
	promtoolPath(t) // missing promtool fails even a -short run
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	p := launch(t, platformConfig{instances: 1, orders: 1, gateways: 1})
	s := newStorefront(p, p.gatewayURL(0))
	admin := s.adminToken(t)
	product := s.createProduct(t, admin, 5)
	customer := s.register(t, "Prom")
	placed := s.send(t, http.MethodPost, "/api/v1/orders", customer.token, frontOrder(product, 1, "4242424242424242"),
		"Idempotency-Key", "prom-"+uuid.NewString()).want(t, http.StatusCreated)
	if placed.str("status") != "CONFIRMED" {
		t.Fatalf("order %s, want CONFIRMED", frontShorten(string(placed.Raw)))
	}

	client := p.public() // what Prometheus has: the CA, no certificate
	var targets []promTarget
	promGetJSON(t, client, "https://"+p.viewAddr+"/v1/prometheus/targets", &targets)

	want := map[string]string{"registry": p.viewAddr} // service -> address
	for _, svc := range []string{"users", "products", "payments", "orders", "gateway"} {
		list := p.instances(svc)
		if len(list) != 1 {
			t.Fatalf("%d %s instances registered, want 1", len(list), svc)
		}
		want[svc] = list[0].HTTPAddr
	}
	seen := map[string]bool{}
	for _, tg := range targets {
		svc := tg.Labels["service"]
		if len(tg.Targets) != 1 || want[svc] != tg.Targets[0] || seen[svc] {
			t.Errorf("unexpected target %+v (want one per process: %v)", tg, want)
			continue
		}
		seen[svc] = true
		if svc == "registry" {
			if tg.Labels["job"] != "registry" {
				t.Errorf("the registry's target has job %q, want registry", tg.Labels["job"])
			}
		} else if id := p.instances(svc)[0].ID; tg.Labels["instance_id"] != id {
			t.Errorf("%s target labelled instance_id %q, want %q", svc, tg.Labels["instance_id"], id)
		}
		t.Run(svc, func(t *testing.T) { promCheckTarget(t, client, svc, tg.Targets[0]) })
	}
	for svc := range want {
		if !seen[svc] {
			t.Errorf("%s is not among the targets: %+v", svc, targets)
		}
	}
	t.Run("a real Prometheus with prometheus.yml scrapes them all", func(t *testing.T) { promScrapesAll(t, p, want) })
}

// promScrapesAll runs Debian's prometheus with ops/prometheus/prometheus.yml,
// changed only where the test platform differs from `make run` (the
// registry's address, the CA, faster intervals; no rule files), and waits
// until it has discovered every process through the registry and scraped
// each one successfully over HTTPS, with the labels the registry gave.
func promScrapesAll(t *testing.T, p *platform, want map[string]string) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not on PATH (%v): it comes with promtool in Debian's prometheus package (bash ops/install-deps.sh)", err)
	}
	raw, err := os.ReadFile(promConfigPath(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	for _, r := range [][2]string{
		{"https://localhost:8090/", "https://" + p.viewAddr + "/"},
		{"../../.run/tls/ca.pem", p.certs["registry"].CA},
		{"scrape_interval: 15s", "scrape_interval: 1s"},
		{"refresh_interval: 15s", "refresh_interval: 1s"},
		{"scrape_timeout: 10s", "scrape_timeout: 1s"},
		{"rule_files:\n  - alerts.yml\n", ""},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("prometheus.yml no longer contains %q: update this test with it", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := kittest.FreeAddr(t)
	kittest.StartProcess(t, bin, nil, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")

	active := promWaitUp(t, addr, len(want))
	for _, tg := range active {
		svc := tg.Labels["service"]
		wantJob := "kitshop"
		if svc == "registry" {
			wantJob = "registry"
		}
		if tg.ScrapeURL != "https://"+want[svc]+"/metrics" || tg.Labels["job"] != wantJob || tg.Labels["instance"] != want[svc] {
			t.Errorf("target %+v, want job %s scraping https://%s/metrics", tg, wantJob, want[svc])
		}
		if svc != "registry" && tg.Labels["instance_id"] == "" {
			t.Errorf("%s target without instance_id: %+v", svc, tg.Labels)
		}
	}

	// A new instance is scraped with no change to the configuration.
	p.start("users")
	p.waitInstances("users", 2)
	promWaitUp(t, addr, len(want)+1)
}

// promActiveTarget is one of Prometheus's active targets (/api/v1/targets).
type promActiveTarget struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

// promWaitUp waits until the Prometheus at addr has exactly n active
// targets, all scraped successfully, and returns them.
func promWaitUp(t *testing.T, addr string, n int) []promActiveTarget {
	t.Helper()
	var active []promActiveTarget
	client := &http.Client{Timeout: 5 * time.Second}
	ok := func() bool {
		var body struct {
			Data struct {
				ActiveTargets []promActiveTarget `json:"activeTargets"`
			} `json:"data"`
		}
		resp, err := client.Get("http://" + addr + "/api/v1/targets?state=active")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		active = body.Data.ActiveTargets
		up := 0
		for _, tg := range active {
			if tg.Health == "up" {
				up++
			}
		}
		return len(active) == n && up == n
	}
	defer func() {
		if t.Failed() {
			t.Logf("Prometheus's active targets: %+v", active)
		}
	}()
	kittest.WaitFor(t, 60*time.Second, fmt.Sprintf("Prometheus to scrape %d targets successfully", n), ok)
	return active
}

// promCheckTarget scrapes one target's /metrics, lints it with promtool
// and checks the names svc must export.
func promCheckTarget(t *testing.T, client *http.Client, svc, addr string) {
	body := promGet(t, client, "https://"+addr+"/metrics")
	if out, ok := promtool(t, body, "check", "metrics"); !ok || strings.TrimSpace(out) != "" {
		t.Errorf("promtool check metrics on %s's /metrics:\n%s", svc, out)
	}
	names := promNames(body)
	for _, name := range slices.Concat(promEveryProcess, promOwnMetrics[svc]) {
		if !names[name] {
			t.Errorf("%s does not export %s", svc, name)
		}
	}
	if svc == "gateway" {
		// The checkout's route, by template, with its outcome.
		const route = `kitshop_requests_total{code="OK",method="POST /api/v1/orders",service="gateway",transport="route"}`
		if !strings.Contains(string(body), route+" 1") {
			t.Errorf("the gateway did not count the checkout's route as %s 1", route)
		}
	}
	if svc == "orders" && !strings.Contains(string(body), `kitshop_orders_placed_total{reason="",status="CONFIRMED"} 1`) {
		t.Error("orders did not count the confirmed checkout")
	}
}

// promNames is the set of sample names in a text exposition.
func promNames(body []byte) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

func promGet(t *testing.T, client *http.Client, url string) []byte {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, frontShorten(string(body)))
	}
	return body
}

func promGetJSON(t *testing.T, client *http.Client, url string, out any) {
	t.Helper()
	if err := json.Unmarshal(promGet(t, client, url), out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
