package switchover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/sd"
	switchover "github.com/kitshop/kitshop/ops/rollout/switch"
)

func register(t *testing.T, c *clientv3.Client, id, version string) {
	t.Helper()
	v, _ := json.Marshal(sd.Instance{ID: id, Name: "products", Version: version, GRPCAddr: "127.0.0.1:1"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, sd.Key("products", id), string(v)); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, srv *etcdtest.Server, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	all := append([]string{"-etcd-endpoints=" + strings.Join(srv.Endpoints(), ","), "-tls-ca=", "-tls-cert=", "-tls-key="}, args...)
	code := switchover.Main(context.Background(), all, &out, &out)
	return code, out.String()
}

func current(t *testing.T, c *clientv3.Client) sd.Rollout {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, _, found, err := sd.GetRollout(ctx, c, "products")
	if err != nil || !found {
		t.Fatalf("rollout: %v (found %v)", err, found)
	}
	return r
}

// A switch moves everything in one write, and switching back is the same
// single write; each is logged in the document.
func TestSwitchAndBack(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	register(t, c, "blue-1", "v1")
	register(t, c, "green-1", "v2")

	if code, out := run(t, srv, "products", "v2"); code != 0 {
		t.Fatalf("switch to v2: %d %s", code, out)
	}
	r := current(t, c)
	if r.Weights["v2"] != 100 || len(r.Weights) != 1 || r.Stable != "v2" || r.State != sd.StateSwitched || r.Step != 1 {
		t.Fatalf("after switch: %+v", r)
	}
	if code, out := run(t, srv, "products", "v1"); code != 0 {
		t.Fatalf("switch back: %d %s", code, out)
	}
	r = current(t, c)
	if r.Weights["v1"] != 100 || r.Step != 2 || len(r.Decisions) != 2 || !strings.Contains(r.Decisions[1].Reason, "v2=100%") {
		t.Fatalf("after switching back: %+v", r)
	}
}

// Switching to a version nobody runs would strand the traffic on the
// fallback: refused unless forced. Usage errors exit 2.
func TestSwitchRefusals(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	register(t, c, "blue-1", "v1")
	code, out := run(t, srv, "products", "v9")
	if code != 1 || !strings.Contains(out, "no instance of products v9") {
		t.Fatalf("switch to a version with no instance: %d %q", code, out)
	}
	if code, out := run(t, srv, "-force", "products", "v9"); code != 0 {
		t.Fatalf("forced switch: %d %s", code, out)
	}
	for _, args := range [][]string{{"products"}, {"products", "v1", "extra"}, {"-nope", "products", "v1"}} {
		if code, _ := run(t, srv, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, out := run(t, srv, "pro/ducts", "v1"); code != 1 || !strings.Contains(out, "name") {
		t.Errorf("a malformed service name: %d %q", code, out)
	}
}
