package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tlsx"
	"github.com/kitshop/kitshop/kit/tracing"
	ordersclient "github.com/kitshop/kitshop/orders/client"
)

// The files whose queries must find their metrics.
const (
	catalogDashboard = "../grafana/dashboards/kitshop.json"
	catalogRules     = "../prometheus/alerts.yml"
	// catalogWait bounds the wait for metrics recorded just after the
	// answer (a saga's last step is observed after its order is written).
	catalogWait = 10 * time.Second
)

// catalogGenerated are series Prometheus writes itself, never a process:
// per-target scrape results and the alerts' state.
var catalogGenerated = regexp.MustCompile(`^(up|scrape_[a-z_]+|ALERTS|ALERTS_FOR_STATE)$`)

// catalogTargetLabels are the labels Prometheus attaches to every series
// of a target (http_sd from the registry: service, instance_id, version;
// and its own job and instance), so no process exports them.
var catalogTargetLabels = map[string]bool{"job": true, "instance": true, "service": true, "instance_id": true, "version": true}

// TestMetricsCatalog keeps the dashboard and the alerts honest: after
// checkouts through the gateway, every metric a panel or a rule queries
// is exported by some process, with the labels it groups by and the
// label values it selects on. A metric renamed, a label dropped or a
// route label changed fails here, not on an operator's empty panel.
func TestMetricsCatalog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	uses, recorded := catalogUses(t)

	// With a collector to report to, the tracing reporter counts what it
	// sends and drops. Every process inherits the test's environment.
	var spans atomic.Int64
	zipkin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []json.RawMessage
		if json.NewDecoder(r.Body).Decode(&batch) == nil {
			spans.Add(int64(len(batch)))
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(zipkin.Close)
	t.Setenv(tracing.EnvZipkinURL, zipkin.URL+"/api/v2/spans")

	tiers := filepath.Join(t.TempDir(), "tiers.json")
	if err := os.WriteFile(tiers, []byte(`{"anonymous": {"per_minute": 100000, "burst": 10000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := launch(t, platformConfig{instances: 1, orders: 1, gateways: 1, gatewayEnv: []string{"KITSHOP_RATE_TIERS=" + tiers}})

	// One checkout confirmed, one declined (its reservation released: a
	// compensation), and the reads an operator's SLO watches.
	s := newStorefront(p, p.gatewayURL(0))
	pid := s.createProduct(t, s.adminToken(t), 10)
	buyer := s.register(t, "Catalog")
	id := s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, frontOrder(pid, 1, cardApproved)).want(t, http.StatusCreated).str("id")
	s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, frontOrder(pid, 1, cardDeclined)).
		wantProblem(t, http.StatusPaymentRequired, ordersclient.ReasonPaymentDeclined)
	s.send(t, http.MethodGet, "/api/v1/orders/"+id, buyer.token, "").want(t, http.StatusOK)
	s.send(t, http.MethodGet, "/api/v1/products/"+pid, "", "").want(t, http.StatusOK)

	// The reporters send in the background: wait for their first batch,
	// so the tracing metrics are those of reporters at work.
	kittest.WaitFor(t, catalogWait, "a span at the fake Zipkin collector", func() bool { return spans.Load() > 0 })

	var problems []string
	defer func() {
		if t.Failed() && len(problems) > 0 {
			t.Logf("what the dashboard or the rules query and no process exports:\n  %s", strings.Join(problems, "\n  "))
		}
	}()
	kittest.WaitFor(t, catalogWait, "every metric of the dashboard and the alerts exported", func() bool {
		problems = catalogCheck(uses, recorded, catalogScrapeAll(t, p))
		return len(problems) == 0
	})
}

// catalogUse is one selector of one query, and where the query is.
type catalogUse struct {
	where string
	sel   catalogSelector
}

// catalogUses reads the dashboard and the rules: every selector they
// query, and the recording rules' names.
func catalogUses(t *testing.T) ([]catalogUse, map[string]bool) {
	t.Helper()
	var uses []catalogUse
	add := func(where, expr string) {
		sels, err := catalogSelectors(expr)
		if err != nil {
			t.Fatalf("%s: reading %q: %v", where, expr, err)
		}
		for _, s := range sels {
			uses = append(uses, catalogUse{where: where, sel: s})
		}
	}

	raw, err := os.ReadFile(catalogDashboard)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string
		Targets []struct{ Expr string }
		Panels  json.RawMessage
	}
	var dash struct {
		Panels     json.RawMessage
		Templating struct {
			List []struct {
				Name  string
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", catalogDashboard, err)
	}
	var walk func(json.RawMessage)
	walk = func(list json.RawMessage) {
		var ps []panel
		if len(list) == 0 {
			return
		}
		if err := json.Unmarshal(list, &ps); err != nil {
			t.Fatalf("%s: panels: %v", catalogDashboard, err)
		}
		for _, p := range ps {
			for _, q := range p.Targets {
				add(fmt.Sprintf("panel %q", p.Title), q.Expr)
			}
			walk(p.Panels) // a collapsed row's
		}
	}
	walk(dash.Panels)
	labelValues := regexp.MustCompile(`^\s*label_values\((.+),\s*(\w+)\s*\)\s*$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if json.Unmarshal(v.Query, &q) != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // the query as a plain string
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
		}
		// The label listed must be on the series: read it as a by().
		add("variable "+v.Name, fmt.Sprintf("sum by (%s) (%s)", m[2], m[1]))
	}

	raw, err = os.ReadFile(catalogRules)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", catalogRules, err)
	}
	recorded := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if r.Record != "" {
				where, recorded[r.Record] = "recording rule "+r.Record, true
			}
			add(where, r.Expr)
		}
	}

	// A reader that lost its way would find nothing and pass: the files
	// query dozens of metrics, among them these.
	names := map[string]bool{}
	for _, u := range uses {
		names[u.sel.metric] = true
	}
	for _, want := range []string{"kitshop_requests_total", "kitshop_breaker_state", "kitshop_registry_instances", "go_sql_in_use_connections"} {
		if !names[want] {
			t.Fatalf("the dashboard and rules read as querying %d metrics, without %s: the PromQL reader is wrong", len(names), want)
		}
	}
	return uses, recorded
}

// catalogSeries are the series of all processes, by sample name
// (histograms as name_bucket, name_sum, name_count), and the family
// types from the TYPE lines.
type catalogSeries struct {
	series map[string][]map[string]string
	types  map[string]string
}

// catalogScrapeAll reads /metrics of every process: the registry, each
// service's instances and the gateway.
func catalogScrapeAll(t *testing.T, p *platform) catalogSeries {
	t.Helper()
	all := catalogSeries{series: map[string][]map[string]string{}, types: map[string]string{}}
	scrape := func(name, addr string) {
		body := catalogScrape(t, p, name, addr)
		for _, line := range strings.Split(body, "\n") {
			if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					all.types[f[0]] = f[1]
				}
				continue
			}
			if line == "" || line[0] == '#' {
				continue
			}
			metric, labels, err := catalogParseSample(line)
			if err != nil {
				t.Fatalf("%s /metrics: %v in %q", name, err, line)
			}
			all.series[metric] = append(all.series[metric], labels)
		}
	}
	scrape("registry", p.viewAddr)
	for _, svc := range []string{"users", "products", "orders", "payments"} {
		ins := p.instances(svc)
		if len(ins) == 0 {
			t.Fatalf("no %s instance registered", svc)
		}
		for _, in := range ins {
			scrape(svc, in.HTTPAddr)
		}
	}
	scrape("gateway", p.procs["gateway"][0].httpAddr)
	return all
}

// catalogScrape GETs one process's /metrics as Prometheus would, over
// mTLS with a certificate of the platform's CA.
func catalogScrape(t *testing.T, p *platform, name, addr string) string {
	t.Helper()
	id, err := tlsx.Load(p.certs["gateway"])
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = id.ClientConfig(name)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /metrics: status %d, %v", name, resp.StatusCode, err)
	}
	return string(body)
}

// catalogParseSample reads a line of the text exposition format:
// name{label="value",...} value [timestamp].
func catalogParseSample(line string) (string, map[string]string, error) {
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return "", nil, fmt.Errorf("no metric name")
	}
	name, rest, labels := line[:end], line[end:], map[string]string{}
	if rest[0] != '{' {
		return name, labels, nil
	}
	rest = rest[1:]
	for {
		rest = strings.TrimLeft(rest, " ,")
		if strings.HasPrefix(rest, "}") {
			return name, labels, nil
		}
		eq := strings.Index(rest, `="`)
		if eq <= 0 {
			return "", nil, fmt.Errorf("a label without a value")
		}
		label := rest[:eq]
		rest = rest[eq+2:]
		var value strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
				if rest[i] == 'n' {
					value.WriteByte('\n')
					continue
				}
			}
			value.WriteByte(rest[i])
		}
		if i == len(rest) {
			return "", nil, fmt.Errorf("an unterminated label value")
		}
		labels[label] = value.String()
		rest = rest[i+1:]
	}
}

// catalogCheck lists, sorted and each once, what the uses need and the
// series do not have.
func catalogCheck(uses []catalogUse, recorded map[string]bool, got catalogSeries) []string {
	seen := map[string]bool{}
	var problems []string
	report := func(format string, args ...any) {
		if p := fmt.Sprintf(format, args...); !seen[p] {
			seen[p] = true
			problems = append(problems, p)
		}
	}
	hasLabel := func(series []map[string]string, label string) bool {
		return slices.ContainsFunc(series, func(s map[string]string) bool { _, ok := s[label]; return ok })
	}
	for _, u := range uses {
		m := u.sel.metric
		switch {
		case catalogGenerated.MatchString(m):
			continue
		case strings.Contains(m, ":"): // a recording rule's name
			if !recorded[m] {
				report("%s: %s is recorded by no rule of %s", u.where, m, catalogRules)
			}
			continue
		}
		series := got.series[m]
		if len(series) == 0 {
			if t := got.types[m]; t == "histogram" || t == "summary" {
				report("%s: %s is a %s: query %s_bucket, %s_sum or %s_count", u.where, m, t, m, m, m)
			} else {
				report("%s: no process exports %s", u.where, m)
			}
			continue
		}
		for _, l := range u.sel.groupBy {
			if !catalogTargetLabels[l] && !hasLabel(series, l) {
				report("%s: %s has no label %s to group by", u.where, m, l)
			}
		}
		for _, mt := range u.sel.matchers {
			if mt.label == "__name__" || catalogTargetLabels[mt.label] {
				continue
			}
			if !hasLabel(series, mt.label) && mt.value != "" {
				report("%s: %s has no label %s to select on", u.where, m, mt.label)
				continue
			}
			// A constant value selected with "=" must be one some series
			// has: transport="route", service="gateway".
			if mt.op == "=" && !strings.Contains(mt.value, "$") &&
				!slices.ContainsFunc(series, func(s map[string]string) bool { return s[mt.label] == mt.value }) {
				report("%s: no series of %s has %s=%q (values seen: %s)", u.where, m, mt.label, mt.value, catalogValues(series, mt.label))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// catalogValues lists the values of label across series, for a failure
// message that shows what is there instead.
func catalogValues(series []map[string]string, label string) string {
	var vals []string
	for _, s := range series {
		if v, ok := s[label]; ok && !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	sort.Strings(vals)
	if len(vals) > 12 {
		vals = append(vals[:12], "…")
	}
	return fmt.Sprintf("%q", vals)
}
