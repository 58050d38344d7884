package canary_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/ops/rollout/canary"
)

// fakeGateway is a registered gateway whose /metrics are a real
// kit/metrics registry, fed attempts on products v1 and v2 while the test
// runs: v2 fails errorRate of them.
type fakeGateway struct {
	mu        sync.Mutex
	errorRate float64
}

func startFakeGateway(t *testing.T, c *clientv3.Client, errorRate float64) *fakeGateway {
	t.Helper()
	reg := metrics.NewRegistry()
	red, err := metrics.NewRED(reg, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	put(t, c, sd.Key("gateway", "g1"), sd.Instance{ID: "g1", Name: "gateway", HTTPAddr: strings.TrimPrefix(srv.URL, "http://")})
	g := &fakeGateway{errorRate: errorRate}
	attempts := red.Attempts("products")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			g.mu.Lock()
			rate := g.errorRate
			g.mu.Unlock()
			for range 10 {
				attempts.Observe("v1", metrics.CodeOK, 2*time.Millisecond)
				code := metrics.CodeOK
				if rand.Float64() < rate {
					code = "Unavailable"
				}
				attempts.Observe("v2", code, 2*time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

func put(t *testing.T, c *clientv3.Client, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, key, string(b)); err != nil {
		t.Fatal(err)
	}
}

func setup(t *testing.T, errorRate float64) (*clientv3.Client, *canary.Controller) {
	t.Helper()
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	put(t, c, sd.Key("products", "blue"), sd.Instance{ID: "blue", Name: "products", Version: "v1", GRPCAddr: "127.0.0.1:1"})
	put(t, c, sd.Key("products", "green"), sd.Instance{ID: "green", Name: "products", Version: "v2", GRPCAddr: "127.0.0.1:2"})
	startFakeGateway(t, c, errorRate)
	return c, canary.NewController(c, nil)
}

func config(t *testing.T) canary.Config {
	return canary.Config{
		Service: "products", Version: "v2", StepDuration: 150 * time.Millisecond, MaxWait: 5 * time.Second, Poll: 30 * time.Millisecond,
		Thresholds: canary.Thresholds{ErrorMargin: 0.02, P99Factor: 1.5, P99Slack: 50 * time.Millisecond, MinRequests: 20},
		Scheme:     "http", Log: func(line string) { t.Log(line) },
	}
}

func run(t *testing.T, ctl *canary.Controller, cfg canary.Config) (canary.Outcome, sd.Rollout, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return ctl.Run(ctx, cfg)
}

func actions(r sd.Rollout) string {
	var out []string
	for _, d := range r.Decisions {
		out = append(out, d.Action)
	}
	return strings.Join(out, ",")
}

func TestHealthyCanaryIsPromoted(t *testing.T) {
	_, ctl := setup(t, 0)
	outcome, r, err := run(t, ctl, config(t))
	if err != nil || outcome != canary.Promoted {
		t.Fatalf("outcome %q, %v", outcome, err)
	}
	if r.Weights["v2"] != 100 || r.Stable != "v2" || r.State != sd.StatePromoted || actions(r) != "start,advance,advance,promote" {
		t.Fatalf("final rollout %+v (%s)", r, actions(r))
	}
}

func TestFailingCanaryIsRolledBack(t *testing.T) {
	c, ctl := setup(t, 0.2)
	outcome, r, err := run(t, ctl, config(t))
	if err != nil || outcome != canary.RolledBack {
		t.Fatalf("outcome %q, %v", outcome, err)
	}
	last := r.Decisions[len(r.Decisions)-1]
	if r.Weights["v1"] != 100 || len(r.Weights) != 1 || last.Action != canary.ActionRollback || last.Share != 5 || last.CanaryErrorRate < 0.05 {
		t.Fatalf("final rollout %+v, last decision %+v", r, last)
	}
	// A second run does not try again unasked.
	_, _, err = run(t, ctl, config(t))
	if errs.ReasonOf(err) != "CANARY_ROLLED_BACK" {
		t.Fatalf("second run: %v, want CANARY_ROLLED_BACK", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stored, _, _, err := sd.GetRollout(ctx, c, "products")
	if err != nil || stored.Step != r.Step {
		t.Fatalf("the refused run changed the rollout: %+v %v", stored, err)
	}
}

// A controller started on a canary in progress resumes at its step.
func TestControllerResumes(t *testing.T) {
	c, ctl := setup(t, 0)
	put(t, c, sd.RolloutKey("products"), sd.Rollout{
		Service: "products", Weights: map[string]int{"v1": 50, "v2": 50}, Stable: "v1", Canary: "v2", Step: 7, State: sd.StateCanary,
		Decisions: []sd.Decision{{Step: 4, Share: 5, Action: "start"}, {Step: 5, Share: 5, Action: "advance"}, {Step: 6, Share: 25, Action: "advance"}},
	})
	outcome, r, err := run(t, ctl, config(t))
	if err != nil || outcome != canary.Promoted {
		t.Fatalf("outcome %q, %v", outcome, err)
	}
	if actions(r) != "start,advance,advance,promote" || r.Decisions[3].Share != 50 || r.Step != 8 {
		t.Fatalf("resumed run: %s, step %d; want one promote from 50%%", actions(r), r.Step)
	}
}

// A switch during a canary stops the controller without overwriting it.
func TestControllerYieldsToASwitch(t *testing.T) {
	c, ctl := setup(t, 0)
	cfg := config(t)
	cfg.StepDuration = time.Minute
	errc := make(chan error, 1)
	go func() { _, _, err := run(t, ctl, cfg); errc <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, _, found, err := sd.GetRollout(ctx, c, "products")
		cancel()
		if err == nil && found && r.State == sd.StateCanary {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the canary did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	put(t, c, sd.RolloutKey("products"), sd.Rollout{Service: "products", Weights: map[string]int{"v1": 100}, Stable: "v1", Step: 99, State: sd.StateSwitched})
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "changed") {
			t.Fatalf("controller ended with %v, want it to yield", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the controller did not notice the switch")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r, _, _, _ := sd.GetRollout(ctx, c, "products"); r.Step != 99 {
		t.Fatalf("the controller overwrote the switch: %+v", r)
	}
}
