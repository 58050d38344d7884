package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
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
