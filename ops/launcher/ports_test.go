package main

import (
	"net"
	"strings"
	"testing"
)

// -port-offset moves every listener, the registry's etcd included, and
// the processes are told where the shifted registry is.
func TestPortOffsetShiftsEveryPort(t *testing.T) {
	shifted, err := shiftPorts(processes, 10000)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"registry": {"127.0.0.1:18090", "", "127.0.0.1:12379", "127.0.0.1:12380"},
		"users":    {":18081", ":19081", "", ""},
		"products": {":18082", ":19082", "", ""},
		"payments": {":18084", ":19084", "", ""},
		"orders":   {":18083", ":19083", "", ""},
		"gateway":  {":18080", "", "", ""},
	}
	for _, p := range shifted {
		got := []string{p.httpAddr, p.grpcAddr, p.etcdAddr, p.peerAddr}
		if w := want[p.name]; strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s: %q, want %q", p.name, got, w)
		}
	}
	if processes[0].httpAddr != "127.0.0.1:8090" {
		t.Error("shiftPorts changed the defaults")
	}
	etcd := etcdEndpoint(shifted)
	if etcd != "127.0.0.1:12379" {
		t.Fatalf("etcd endpoint %q", etcd)
	}
	for _, p := range shifted {
		env := environment(p, etcd, nil)
		if got := last(env, "KITSHOP_ETCD_ENDPOINTS"); got != etcd {
			t.Errorf("%s: KITSHOP_ETCD_ENDPOINTS=%q", p.name, got)
		}
		if got := last(env, "KITSHOP_HTTP_ADDR"); got != p.httpAddr {
			t.Errorf("%s: KITSHOP_HTTP_ADDR=%q", p.name, got)
		}
	}
	reg, _ := find(shifted, "registry")
	env := environment(reg, etcd, nil)
	if last(env, "KITSHOP_REGISTRY_ETCD_ADDR") != "127.0.0.1:12379" || last(env, "KITSHOP_REGISTRY_PEER_ADDR") != "127.0.0.1:12380" {
		t.Errorf("registry etcd addresses: %q %q", last(env, "KITSHOP_REGISTRY_ETCD_ADDR"), last(env, "KITSHOP_REGISTRY_PEER_ADDR"))
	}

	for _, bad := range []int{-2379, 60000} {
		if _, err := shiftPorts(processes, bad); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("offset %d: %v", bad, err)
		}
	}
}

// A port in use (another make run) is reported by name before anything
// is built or started.
func TestCheckPortsFreeNamesThePortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	ps := []process{{name: "products", httpAddr: freeAddr, grpcAddr: busy.Addr().String()}}
	err = checkPortsFree(ps)
	if err == nil || !strings.Contains(err.Error(), "products gRPC port "+busy.Addr().String()+" is in use") ||
		strings.Contains(err.Error(), freeAddr) || !strings.Contains(err.Error(), "-port-offset") {
		t.Errorf("checkPortsFree: %v", err)
	}
	if err := checkPortsFree(ps[:0]); err != nil {
		t.Error(err)
	}
}

// products gets demo data under make run unless the developer said
// otherwise; no one else is told to seed.
func TestEnvironmentSeedsProductsUnlessSetOtherwise(t *testing.T) {
	products, _ := find(processes, "products")
	users, _ := find(processes, "users")
	t.Setenv("KITSHOP_PRODUCTS_SEED_DEMO", "")
	if got := last(environment(products, "", nil), "KITSHOP_PRODUCTS_SEED_DEMO"); got != "1" {
		t.Errorf("products: KITSHOP_PRODUCTS_SEED_DEMO=%q, want 1", got)
	}
	if got := last(environment(users, "", nil), "KITSHOP_PRODUCTS_SEED_DEMO"); got != "" {
		t.Errorf("users: KITSHOP_PRODUCTS_SEED_DEMO=%q", got)
	}
	t.Setenv("KITSHOP_PRODUCTS_SEED_DEMO", "0")
	if got := last(environment(products, "", nil), "KITSHOP_PRODUCTS_SEED_DEMO"); got != "0" {
		t.Errorf("the developer's KITSHOP_PRODUCTS_SEED_DEMO=0 became %q", got)
	}
}
