package sd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/sd"
)

// versionFake is a health server registered as one version of "users",
// counting its calls and remembering the route key callers sent.
type versionFake struct {
	version string
	calls   atomic.Int64
	lastKey atomic.Value
	failing atomic.Bool
}

func startVersionFake(t *testing.T, c *clientv3.Client, version string) *versionFake {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &versionFake{version: version}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		f.calls.Add(1)
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get(sd.MetadataRouteKey); len(v) > 0 {
			f.lastKey.Store(v[0])
		}
		if f.failing.Load() {
			return nil, status.Error(codes.Unavailable, "injected")
		}
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	putInstance(t, c, sd.Instance{ID: version + "-" + lis.Addr().String(), Name: "users", Version: version, GRPCAddr: lis.Addr().String()})
	return f
}

func putRollout(t *testing.T, c *clientv3.Client, weights map[string]int, step int) {
	t.Helper()
	v, err := json.Marshal(sd.Rollout{Service: "users", Weights: weights, Stable: "v1", Step: step})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, sd.RolloutKey("users"), string(v)); err != nil {
		t.Fatal(err)
	}
}

// calls makes n calls and reports how many each fake received.
func calls(t *testing.T, ctx context.Context, call func(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error), n int, fakes ...*versionFake) []int64 {
	t.Helper()
	before := make([]int64, len(fakes))
	for i, f := range fakes {
		before[i] = f.calls.Load()
	}
	for range n {
		if err := check(ctx, call); err != nil {
			t.Fatalf("call: %v", err)
		}
	}
	out := make([]int64, len(fakes))
	for i, f := range fakes {
		out[i] = f.calls.Load() - before[i]
	}
	return out
}

// onlyTo waits until a batch of calls all reach want (the split is
// applied from a watch, so it takes effect shortly after the write).
func onlyTo(t *testing.T, call func(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error), want int, fakes ...*versionFake) {
	t.Helper()
	kittest.WaitFor(t, 10*time.Second, fmt.Sprintf("every call on %s", fakes[want].version), func() bool {
		got := calls(t, context.Background(), call, 20, fakes...)
		return got[want] == 20
	})
}

func TestSplitFollowsTheRolloutKey(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	v1, v2 := startVersionFake(t, c, "v1"), startVersionFake(t, c, "v2")
	b := newBackend(t, sd.BackendConfig{Etcd: c})
	call := sd.Unary(b, "Check", sd.Read, healthpb.HealthClient.Check)

	// No rollout: every instance, as before rollouts existed.
	kittest.WaitFor(t, 10*time.Second, "both versions called", func() bool {
		got := calls(t, context.Background(), call, 10, v1, v2)
		return got[0] > 0 && got[1] > 0
	})
	// Blue-green: everything to v2, v1 idle; and back as fast.
	putRollout(t, c, map[string]int{"v2": 100}, 1)
	onlyTo(t, call, 1, v1, v2)
	putRollout(t, c, map[string]int{"v1": 100, "v2": 0}, 2)
	onlyTo(t, call, 0, v1, v2)
	// A version with the weight but no instance: the call goes to the
	// instances there are rather than failing.
	putRollout(t, c, map[string]int{"v3": 100}, 3)
	kittest.WaitFor(t, 10*time.Second, "calls served without a v3 instance", func() bool {
		got := calls(t, context.Background(), call, 20, v1, v2)
		return got[0]+got[1] == 20 && got[1] > 0
	})
	// An invalid document is ignored: the last split stays.
	putRollout(t, c, map[string]int{"v2": 100}, 4)
	onlyTo(t, call, 1, v1, v2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, sd.RolloutKey("users"), `{"service":"users","weights":{"v1":30}}`); err != nil {
		t.Fatal(err)
	}
	if got := calls(t, context.Background(), call, 20, v1, v2); got[1] != 20 {
		t.Fatalf("after an invalid rollout: %v, want the last split (all on v2)", got)
	}
	// The key removed: every instance again.
	deleteKey(t, c, sd.RolloutKey("users"))
	kittest.WaitFor(t, 10*time.Second, "both versions called", func() bool {
		got := calls(t, context.Background(), call, 10, v1, v2)
		return got[0] > 0 && got[1] > 0
	})
}

// The version of the only live instances of the weighted version drops
// out of the registry: calls go to another version rather than failing.
func TestSplitFallsBackWhenAVersionLeaves(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	v1 := startVersionFake(t, c, "v1")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis.Close()
	gone := sd.Instance{ID: "v2-gone", Name: "users", Version: "v2", GRPCAddr: lis.Addr().String()}
	putInstance(t, c, gone)
	putRollout(t, c, map[string]int{"v2": 100}, 1)
	b := newBackend(t, sd.BackendConfig{Etcd: c})
	call := sd.Unary(b, "Check", sd.Read, healthpb.HealthClient.Check)
	deleteKey(t, c, sd.Key("users", gone.ID))
	kittest.WaitFor(t, 10*time.Second, "calls answered by v1", func() bool {
		return check(context.Background(), call) == nil && v1.calls.Load() > 0
	})
}

// A client key keeps a client on one version; the key travels to the
// callee in metadata; a retry after the canary failed goes to the stable
// version; attempts are counted by version.
func TestSplitStickyKeysRetriesAndMetrics(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	v1, v2 := startVersionFake(t, c, "v1"), startVersionFake(t, c, "v2")
	putRollout(t, c, map[string]int{"v1": 50, "v2": 50}, 7)
	reg := metrics.NewRegistry()
	red, err := metrics.NewRED(reg, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, sd.BackendConfig{Etcd: c, Chain: mw.Chain{Service: "gateway", RED: red}, Edge: true})
	call := sd.Unary(b, "Check", sd.Read, healthpb.HealthClient.Check)
	kittest.WaitFor(t, 10*time.Second, "the split and both instances known", func() bool {
		// Round-robin alternates; only the split keeps one key on one.
		got := calls(t, sd.WithRouteKey(context.Background(), sd.RouteKeyOf("probe")), call, 10, v1, v2)
		return got[0] == 10 || got[1] == 10
	})
	seen := map[int]bool{}
	for i := range 40 {
		key := sd.RouteKeyOf(fmt.Sprintf("user:%d", i))
		ctx := sd.WithRouteKey(context.Background(), key)
		got := calls(t, ctx, call, 5, v1, v2)
		if got[0] != 5 && got[1] != 5 {
			t.Fatalf("client %d was split between versions: %v", i, got)
		}
		if got[1] == 5 {
			seen[1] = true
			if k, _ := v2.lastKey.Load().(string); k != key {
				t.Fatalf("callee saw route key %q, want %q", k, key)
			}
		} else {
			seen[0] = true
		}
	}
	if !seen[0] || !seen[1] {
		t.Fatalf("40 clients all on one version at 50/50: %v", seen)
	}

	// The canary fails every call: reads still succeed, retried on v1.
	v2.failing.Store(true)
	for i := range 40 {
		ctx := sd.WithRouteKey(context.Background(), sd.RouteKeyOf(fmt.Sprintf("user:%d", i)))
		if err := check(ctx, call); err != nil {
			t.Fatalf("client %d: %v; the retry should have gone to the stable version", i, err)
		}
	}
	failed := attemptsCounted(t, reg, "v2", "Unavailable")
	ok := attemptsCounted(t, reg, "v1", metrics.CodeOK)
	if failed == 0 || ok == 0 {
		t.Fatalf("attempts by version: v2 Unavailable %v, v1 OK %v; want both counted", failed, ok)
	}
}

// attemptsCounted is kitshop_backend_attempts_total for users' version
// and code in reg.
func attemptsCounted(t *testing.T, reg prometheus.Gatherer, version, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metrics.AttemptsName {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["backend"] == "users" && labels[metrics.LabelBackendVersion] == version && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
