package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/sd"
)

type fixture struct {
	srv   *etcdtest.Server
	etcd  *clientv3.Client
	ready *health.Readiness
	reg   *prometheus.Registry
	url   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{srv: etcdtest.Start(t), ready: health.New(), reg: metrics.NewRegistry()}
	f.etcd = f.srv.Client(t)
	// A short read timeout keeps the outage checks quick.
	f.ready.AddCheck("etcd", etcdCheck(f.etcd, 500*time.Millisecond))
	h, err := newHandler(f.etcd, f.ready, f.reg, log.NewNopLogger(), 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

func (f *fixture) put(t *testing.T, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.etcd.Put(ctx, key, value); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func (f *fixture) register(t *testing.T, inst sd.Instance) sd.Instance {
	t.Helper()
	v, err := json.Marshal(inst)
	if err != nil {
		t.Fatal(err)
	}
	f.put(t, sd.Key(inst.Name, inst.ID), string(v))
	return inst
}

func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func TestViewListsRegisteredInstances(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u1 := f.register(t, sd.Instance{ID: "u1", Name: "users", Version: "1.0.0", HTTPAddr: "127.0.0.1:8081", GRPCAddr: "127.0.0.1:9081", RegisteredAt: at})
	u2 := f.register(t, sd.Instance{ID: "u2", Name: "users", Version: "1.1.0", HTTPAddr: "127.0.0.1:18081", GRPCAddr: "127.0.0.1:19081", RegisteredAt: at})
	p1 := f.register(t, sd.Instance{ID: "p1", Name: "products", Version: "1.0.0", GRPCAddr: "127.0.0.1:9082", RegisteredAt: at})
	// Garbage from some other writer is skipped, not fatal.
	f.put(t, sd.Key("users", "broken"), "not json")

	resp, body := get(t, http.MethodGet, f.url+"/v1/services")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/services: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	all := decode[struct {
		Services map[string][]sd.Instance `json:"services"`
	}](t, body)
	if len(all.Services) != 2 || !equal(all.Services["users"], u1, u2) || !equal(all.Services["products"], p1) {
		t.Fatalf("services = %+v", all.Services)
	}
	for _, field := range []string{`"http_addr":"127.0.0.1:8081"`, `"grpc_addr":"127.0.0.1:9081"`, `"registered_at":"2026-01-02T03:04:05Z"`} {
		if !strings.Contains(body, field) {
			t.Errorf("body lacks %s: %s", field, body)
		}
	}

	resp, body = get(t, http.MethodGet, f.url+"/v1/services/users")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/services/users: %d %s", resp.StatusCode, body)
	}
	one := decode[struct {
		Instances []sd.Instance `json:"instances"`
	}](t, body)
	if !equal(one.Instances, u1, u2) {
		t.Fatalf("instances = %+v", one.Instances)
	}
}

func TestViewUnknownServiceIsAnEmptyList(t *testing.T) {
	f := newFixture(t)
	resp, body := get(t, http.MethodGet, f.url+"/v1/services/nobody")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"instances":[]}` {
		t.Fatalf("GET unknown service: %d %s, want 200 {\"instances\":[]}", resp.StatusCode, body)
	}
	resp, body = get(t, http.MethodGet, f.url+"/v1/services")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"services":{}}` {
		t.Fatalf("GET empty registry: %d %s, want 200 {\"services\":{}}", resp.StatusCode, body)
	}
}

func TestViewRoutingProblems(t *testing.T) {
	f := newFixture(t)
	resp, body := get(t, http.MethodPost, f.url+"/v1/services")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("POST /v1/services: %d Allow=%q %s", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
	resp, _ = get(t, http.MethodGet, f.url+"/v2/nothing")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown route: %d", resp.StatusCode)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Fatal("response lacks X-Request-ID")
	}
}

func TestViewPlatformEndpointsAndOutage(t *testing.T) {
	f := newFixture(t)
	if resp, _ := get(t, http.MethodGet, f.url+"/health/live"); resp.StatusCode != http.StatusOK {
		t.Fatalf("live: %d", resp.StatusCode)
	}
	if resp, body := get(t, http.MethodGet, f.url+"/metrics"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	f.ready.SetReady(true)
	if resp, body := get(t, http.MethodGet, f.url+"/health/ready"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"etcd":"ok"`) {
		t.Fatalf("ready with etcd up: %d %s", resp.StatusCode, body)
	}

	f.srv.Stop()
	resp, body := get(t, http.MethodGet, f.url+"/health/ready")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"etcd":"etcd not serving"`) {
		t.Fatalf("ready with etcd down: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "127.0.0.1") {
		t.Fatalf("readiness leaks an address: %s", body)
	}
	resp, body = get(t, http.MethodGet, f.url+"/v1/services")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"REGISTRY_UNAVAILABLE"`) {
		t.Fatalf("view with etcd down: %d %s", resp.StatusCode, body)
	}

	f.srv.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := get(t, http.MethodGet, f.url+"/health/ready")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready again after etcd came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func equal(got []sd.Instance, want ...sd.Instance) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
