package compose

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

const (
	composePrometheus = "prometheus.yml"
	sharedPrometheus  = "../prometheus/prometheus.yml"
	grafanaProvider   = "../grafana/provisioning/dashboards/kitshop.yml"
)

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// dig walks maps and lists: dig(m, "scrape_configs", 0, "tls_config").
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not a map", p, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: %T is not a list that long", p, v)
			}
			v = l[k]
		}
	}
	return v
}

// Prometheus accepts the compose configuration.
func TestComposePrometheusConfigIsValid(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not on PATH: run bash ops/install-deps.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "check", "config", "--syntax-only", composePrometheus).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

// The compose configuration is the shared one (ops/prometheus) with the
// containers' addresses and files, nothing else: a change to the shared
// scrape settings must be made here too, and this says so.
func TestComposePrometheusFollowsTheSharedConfig(t *testing.T) {
	c, s := readYAML(t, composePrometheus), readYAML(t, sharedPrometheus)
	sd := dig(t, c, "scrape_configs", 0, "http_sd_configs", 0)
	if got := dig(t, sd, "url"); got != "https://registry:8090/v1/prometheus/targets" {
		t.Errorf("http_sd url %v, want the registry container's targets endpoint", got)
	}
	for _, tc := range []any{dig(t, c, "scrape_configs", 0, "tls_config"), dig(t, sd, "tls_config")} {
		if dig(t, tc, "ca_file") != "/etc/prometheus/tls/ca.pem" || dig(t, tc, "server_name") != "localhost" {
			t.Errorf("tls_config %v, want the mounted CA and server_name localhost", tc)
		}
	}
	strip := func(m map[string]any) {
		sc := dig(t, m, "scrape_configs", 0).(map[string]any)
		delete(sc["tls_config"].(map[string]any), "ca_file")
		delete(sc["tls_config"].(map[string]any), "server_name")
		sd := dig(t, sc, "http_sd_configs", 0).(map[string]any)
		delete(sd, "url")
		delete(sd["tls_config"].(map[string]any), "ca_file")
		delete(sd["tls_config"].(map[string]any), "server_name")
	}
	strip(c)
	strip(s)
	if !reflect.DeepEqual(c, s) {
		t.Errorf("%s differs from %s beyond addresses and files:\n%v\n%v", composePrometheus, sharedPrometheus, c, s)
	}
}

// The files Prometheus and Grafana read are mounted where their
// configurations say.
func TestComposeMountsObservability(t *testing.T) {
	p := mustLoad(t)
	abs := func(rel string) string {
		a, err := filepath.Abs(rel)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mounts := func(s types.ServiceConfig) map[string]string {
		m := map[string]string{}
		for _, v := range s.Volumes {
			m[v.Target] = v.Source
		}
		return m
	}
	prom := service(t, p, "prometheus")
	pm := mounts(prom)
	for target, source := range map[string]string{
		"/etc/prometheus/prometheus.yml": abs(composePrometheus),
		"/etc/prometheus/alerts.yml":     abs("../prometheus/alerts.yml"),
		"/etc/prometheus/tls":            "tls-public",
	} {
		if pm[target] != source {
			t.Errorf("prometheus: %s is mounted from %q, want %q", target, pm[target], source)
		}
	}
	if !slices.Contains(prom.Command, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus command %q", prom.Command)
	}
	if rules := dig(t, readYAML(t, composePrometheus), "rule_files", 0); rules != "alerts.yml" {
		t.Errorf("rule_files %v, want alerts.yml beside the config", rules)
	}

	graf := service(t, p, "grafana")
	gm := mounts(graf)
	dashPath := dig(t, readYAML(t, grafanaProvider), "providers", 0, "options", "path").(string)
	if gm[dashPath] != abs("../grafana/dashboards") || gm["/etc/grafana/provisioning"] != abs("../grafana/provisioning") {
		t.Errorf("grafana mounts %v; the provider reads dashboards from %s", gm, dashPath)
	}
	if v, _ := envValue(graf, "KITSHOP_PROMETHEUS_URL"); v != "http://prometheus:9090" {
		t.Errorf("grafana: KITSHOP_PROMETHEUS_URL=%q", v)
	}
	// Read-only: the repository's files are the source of truth.
	for _, s := range []types.ServiceConfig{prom, graf} {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && !v.ReadOnly {
				t.Errorf("%s: %s is mounted writable", s.Name, v.Source)
			}
		}
	}
}
