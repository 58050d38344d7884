package main

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/sd"
)

// targets fetches the http_sd document and checks what Prometheus checks
// of it: a 200 with a JSON content type.
func (f *fixture) targets(t *testing.T) []targetGroup {
	t.Helper()
	resp, body := get(t, http.MethodGet, f.url+targetsPath)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET %s: %d %s %s", targetsPath, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return decode[[]targetGroup](t, body)
}

func (f *fixture) host(t *testing.T) string {
	u, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func group(addr string, labels ...string) targetGroup {
	g := targetGroup{Targets: []string{addr}, Labels: map[string]string{}}
	for i := 0; i+1 < len(labels); i += 2 {
		g.Labels[labels[i]] = labels[i+1]
	}
	return g
}

func sameGroups(a, b []targetGroup) bool {
	return slices.EqualFunc(a, b, func(x, y targetGroup) bool {
		return slices.Equal(x.Targets, y.Targets) && maps.Equal(x.Labels, y.Labels)
	})
}

// TestPrometheusTargetsFollowTheRegistry: every registered instance with
// an HTTP address is a target labelled service, instance_id and version,
// next to the registry itself (job "registry"); one deregistered is gone
// from the next answer, and one registering later appears in it.
func TestPrometheusTargetsFollowTheRegistry(t *testing.T) {
	f := newFixture(t)
	self := group(f.host(t), "job", "registry", "service", "registry")
	if got := f.targets(t); !sameGroups(got, []targetGroup{self}) {
		t.Fatalf("empty registry: %+v, want the registry alone", got)
	}

	f.register(t, sd.Instance{ID: "u2", Name: "users", Version: "1.1.0", HTTPAddr: "127.0.0.1:18081", GRPCAddr: "127.0.0.1:19081"})
	f.register(t, sd.Instance{ID: "u1", Name: "users", Version: "1.0.0", HTTPAddr: "127.0.0.1:8081", GRPCAddr: "127.0.0.1:9081"})
	f.register(t, sd.Instance{ID: "g1", Name: "gateway", Version: "1.0.0", HTTPAddr: "127.0.0.1:8080"})
	// Nothing to scrape: no HTTP port.
	f.register(t, sd.Instance{ID: "x1", Name: "worker", GRPCAddr: "127.0.0.1:9999"})
	f.put(t, sd.Key("users", "broken"), "not json")

	// A real registration, under a lease, as a service makes it.
	inst := sd.Instance{ID: "p1", Name: "products", Version: "2.0.0", HTTPAddr: "127.0.0.1:8082", GRPCAddr: "127.0.0.1:9082"}
	r := sd.NewRegistrar(f.etcd, inst, 10*time.Second, log.NewNopLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-r.Registered():
	case <-time.After(10 * time.Second):
		t.Fatal("products instance not registered")
	}

	want := []targetGroup{
		self,
		group("127.0.0.1:8080", "service", "gateway", "instance_id", "g1", "version", "1.0.0"),
		group("127.0.0.1:8082", "service", "products", "instance_id", "p1", "version", "2.0.0"),
		group("127.0.0.1:8081", "service", "users", "instance_id", "u1", "version", "1.0.0"),
		group("127.0.0.1:18081", "service", "users", "instance_id", "u2", "version", "1.1.0"),
	}
	if got := f.targets(t); !sameGroups(got, want) {
		t.Fatalf("targets:\n got %+v\nwant %+v", got, want)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if err := r.Deregister(dctx); err != nil {
		t.Fatal(err)
	}
	want = slices.Delete(want, 2, 3)
	if got := f.targets(t); !sameGroups(got, want) {
		t.Fatalf("after products deregistered:\n got %+v\nwant %+v", got, want)
	}
}

func TestPrometheusTargetsDuringAnEtcdOutage(t *testing.T) {
	f := newFixture(t)
	f.srv.Stop()
	resp, body := get(t, http.MethodGet, f.url+targetsPath)
	// Not a 200 with an empty list: Prometheus would drop every target.
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"REGISTRY_UNAVAILABLE"`) {
		t.Fatalf("targets with etcd down: %d %s", resp.StatusCode, body)
	}
}

// TestRegistryInstancesGauge: kitshop_registry_instances counts instances
// per service, keeps a service that lost its last instance at 0, and
// bounds its service label.
func TestRegistryInstancesGauge(t *testing.T) {
	f := newFixture(t)
	f.register(t, sd.Instance{ID: "u1", Name: "users", HTTPAddr: "127.0.0.1:1"})
	f.register(t, sd.Instance{ID: "u2", Name: "users", HTTPAddr: "127.0.0.1:2"})
	f.register(t, sd.Instance{ID: "o1", Name: "orders", HTTPAddr: "127.0.0.1:3"})
	const want = `
# HELP kitshop_registry_instances Instances registered in the registry, per service.
# TYPE kitshop_registry_instances gauge
kitshop_registry_instances{service="orders"} 1
kitshop_registry_instances{service="users"} 2
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), "kitshop_registry_instances"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.etcd.Delete(ctx, sd.Key("orders", "o1")); err != nil {
		t.Fatal(err)
	}
	const gone = `
# HELP kitshop_registry_instances Instances registered in the registry, per service.
# TYPE kitshop_registry_instances gauge
kitshop_registry_instances{service="orders"} 0
kitshop_registry_instances{service="users"} 2
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(gone), "kitshop_registry_instances"); err != nil {
		t.Fatal("a service without instances must read 0:", err)
	}

	// Invented names beyond the bound share one label.
	for i := range maxServiceLabels + 10 {
		f.register(t, sd.Instance{ID: "i", Name: "svc" + strings.Repeat("x", i+1), HTTPAddr: "127.0.0.1:4"})
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series int
	var total float64
	for _, mf := range mfs {
		if mf.GetName() == "kitshop_registry_instances" {
			for _, m := range mf.GetMetric() {
				series++
				total += m.GetGauge().GetValue()
			}
		}
	}
	if series > maxServiceLabels+1 {
		t.Fatalf("%d service labels, want at most %d", series, maxServiceLabels+1)
	}
	if want := float64(2 + maxServiceLabels + 10); total != want {
		t.Fatalf("instances over all labels = %v, want %v: none may be lost to the bound", total, want)
	}
}
