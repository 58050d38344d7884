//go:build chaos

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	switchover "github.com/kitshop/kitshop/ops/rollout/switch"
)

// Shared by the blue-green and canary tests (bluegreen_test.go,
// canary_test.go): a platform whose products runs two versions behind one
// gateway, and a steady read load from many clients.

// roRate is the steady load of the rollout tests, requests a second.
const roRate = 60

// roClients is how many distinct API keys the load uses: the gateway
// keeps each client on one version per rollout step, so one key would
// put all the load on one version.
const roClients = 40

// roPlatform is the platform with products v1 (one instance), pinned to
// all of products' traffic with `rollout switch` before one products
// instance of v2 is started with v2Env (a fault, say), so that v2 starts
// idle, as a release is deployed before any traffic goes to it; and one
// gateway, whose API keys it returns.
func roPlatform(t *testing.T, v2Env ...string) (*platform, []string) {
	t.Helper()
	var keys, specs []string
	for i := range roClients {
		k := fmt.Sprintf("ro-client-%02d", i)
		keys = append(keys, k)
		specs = append(specs, k+":e2e-unlimited")
	}
	p := launch(t, platformConfig{
		instances: 1, orders: 1, gateways: 1, ordersEnv: fastSagas,
		productsEnv: []string{"KITSHOP_PRODUCTS_SEED_DEMO=1", "KITSHOP_SERVICE_VERSION=v1"},
		gatewayEnv:  edgeLimitsEnv(t, "", specs...),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code, out := roTool(p, switchover.Main, ctx, "products", "v1"); code != 0 {
		t.Fatalf("pinning products to v1: exit %d\n%s", code, out)
	}
	p.start("products", append([]string{"KITSHOP_SERVICE_VERSION=v2"}, v2Env...)...)
	p.waitInstances("products", 2)
	return p, keys
}

// roProductIDs are ids of the demo catalog, read through the gateway.
func roProductIDs(t *testing.T, p *platform) []string {
	t.Helper()
	e := newEdge(p, 0)
	var ids []string
	kittest.WaitFor(t, 30*time.Second, "the demo catalog through the gateway", func() bool {
		a, err := e.do(http.MethodGet, "/api/v1/products?page_size=20", "")
		if err != nil || a.status != http.StatusOK {
			return false
		}
		list, _ := a.body["products"].([]any)
		ids = ids[:0]
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				if id, ok := m["id"].(string); ok {
					ids = append(ids, id)
				}
			}
		}
		return len(ids) >= 5
	})
	return ids
}

// roAttempts is the gateway's count of attempts on products instances of
// version, by outcome code ("" for all).
func roAttempts(t *testing.T, p *platform, version, code string) float64 {
	t.Helper()
	match := []string{`backend="products"`, `backend_version="` + version + `"`}
	if code != "" {
		match = append(match, `code="`+code+`"`)
	}
	return newEdge(p, 0).metric(t, "kitshop_backend_attempts_total", match...)
}

// roLoad sends GET /api/v1/products/{id} at a steady rate, each request
// from the next of the API keys, without waiting for answers (an open
// loop: a slow answer does not slow the load down), and counts outcomes
// per second of the run.
type roLoad struct {
	t        *testing.T
	e        *edge
	keys     []string
	ids      []string
	began    time.Time
	stop     chan struct{}
	stopOnce sync.Once
	stopped  sync.WaitGroup

	mu       sync.Mutex
	seconds  []roSecond
	failures map[string]int
}

type roSecond struct{ sent, failed int }

// startRoLoad starts rate requests a second until Stop.
func startRoLoad(t *testing.T, p *platform, keys, ids []string, rate int) *roLoad {
	l := &roLoad{t: t, e: newEdge(p, 0), keys: keys, ids: ids, began: time.Now(), stop: make(chan struct{}), failures: map[string]int{}}
	l.stopped.Add(1)
	go func() {
		defer l.stopped.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			l.stopped.Add(1)
			go func(n int) {
				defer l.stopped.Done()
				l.send(n)
			}(n)
		}
	}()
	t.Cleanup(func() { l.Stop() })
	return l
}

func (l *roLoad) send(n int) {
	sec := int(time.Since(l.began) / time.Second)
	e := *l.e
	e.apiKey = l.keys[n%len(l.keys)]
	a, err := e.do(http.MethodGet, "/api/v1/products/"+l.ids[n%len(l.ids)], "")
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.seconds) <= sec {
		l.seconds = append(l.seconds, roSecond{})
	}
	l.seconds[sec].sent++
	switch {
	case err != nil:
		l.seconds[sec].failed++
		l.failures["transport: "+err.Error()]++
	case a.status != http.StatusOK:
		l.seconds[sec].failed++
		code, _ := a.body["code"].(string)
		l.failures[fmt.Sprintf("%d %s", a.status, code)]++
	}
}

// Stop ends the load and waits for every answer (each bounded by the
// client's timeout).
func (l *roLoad) Stop() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.stopped.Wait()
}

// totals are the requests sent and failed so far.
func (l *roLoad) totals() (sent, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.seconds {
		sent += s.sent
		failed += s.failed
	}
	return sent, failed
}

// since is how long the load has run.
func (l *roLoad) since() time.Duration { return time.Since(l.began) }

// report is the per-second timeline and the failures by kind.
func (l *roLoad) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	b.WriteString("client load, per second (sent/failed):")
	for i, s := range l.seconds {
		if i%10 == 0 {
			fmt.Fprintf(&b, "\n  t+%3ds", i)
		}
		fmt.Fprintf(&b, " %3d/%d", s.sent, s.failed)
	}
	if len(l.failures) > 0 {
		fmt.Fprintf(&b, "\n  failures: %v", l.failures)
	}
	return b.String()
}

// roTool runs an ops/rollout subcommand's Main against p with the
// gateway's certificate (as `make run`'s .run/tls would give it) and
// returns its exit code and output.
func roTool(p *platform, main func(context.Context, []string, io.Writer, io.Writer) int, ctx context.Context, args ...string) (int, string) {
	f := p.certs["gateway"]
	all := append([]string{"-etcd-endpoints=" + p.etcdAddr, "-tls-ca=" + f.CA, "-tls-cert=" + f.Cert, "-tls-key=" + f.Key}, args...)
	var out bytes.Buffer
	code := main(ctx, all, &out, &out)
	return code, out.String()
}

// roJourneys runs ops/loadgen's journey mix (browse, search, login, place
// an order, read it back) against p's gateway at rate for d, as
// customers would: its orders go through the saga, whose calls to
// products follow the customer's version. wait returns its totals.
func roJourneys(t *testing.T, p *platform, rate int, d time.Duration) (wait func() (requests, failed int64, errors string)) {
	t.Helper()
	bin := kittest.BuildBinaries(t, "ops/loadgen")["ops/loadgen"]
	out := filepath.Join(t.TempDir(), "journeys.json")
	var log bytes.Buffer
	cmd := exec.Command(bin, "-target", p.gatewayURL(0), "-cacert", p.certs["gateway"].CA,
		"-api-key", edgeKey, "-scenario", "journey", "-rate", strconv.Itoa(rate),
		"-duration", d.String(), "-users", "8", "-json", out)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return func() (int64, int64, string) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("loadgen: %v\n%s", err, log.String())
			}
		case <-time.After(d + 2*time.Minute):
			t.Fatal("loadgen did not end")
		}
		var s struct {
			Requests, Failed int64
			Errors           []struct {
				Status int
				Code   string
				Count  int64
			}
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s.Requests, s.Failed, fmt.Sprintf("%+v", s.Errors)
	}
}
