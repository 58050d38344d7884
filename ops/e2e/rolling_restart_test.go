//go:build rollout

// The rolling-restart scenario runs about a minute and is kept out of
// `make test` until it has a longer record: in its first eleven runs under
// -race one (of an earlier version, whose report was lost) saw 4 failed
// requests before any old instance was stopped, cause not established;
// the ten runs since saw none. Run it with
//
//	go test -race -tags rollout -run TestRollingRestartUnderLoad ./ops/e2e/

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/ops/rollout/restart"
)

// TestRollingRestartUnderLoad is issue 11's rolling restart: two instances
// of each service behind a gateway, loadgen driving the journey mix at a
// steady rate, and meanwhile every instance of users, products, payments
// and orders replaced one at a time (start, wait until registered, SIGTERM
// the old one, wait for its exit). Not one request may fail, and once the
// load is over no saga is left unfinished and `orders check` is clean.
func TestRollingRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary for about a minute; not in -short")
	}
	const (
		rate     = 40
		loadTime = 30 * time.Second
		// maxRounds of restarts: a second round, which replaces the
		// replacements, runs only if the load will outlast it (under
		// -race a round takes about 20 s).
		maxRounds = 2
	)
	loadgen := kittest.BuildBinaries(t, "ops/loadgen")["ops/loadgen"]
	p := launch(t, platformConfig{
		instances: 2, orders: 2, gateways: 1, ordersEnv: fastSagas,
		productsEnv: []string{"KITSHOP_PRODUCTS_SEED_DEMO=1"},
		gatewayEnv:  edgeLimitsEnv(t, ""),
	})

	out := filepath.Join(t.TempDir(), "load.json")
	progress := &lockedBuffer{}
	lg := exec.Command(loadgen, "-target", p.gatewayURL(0), "-cacert", p.certs["gateway"].CA,
		"-api-key", edgeKey, "-scenario", "journey", "-rate", strconv.Itoa(rate),
		"-duration", loadTime.String(), "-users", "8", "-json", out)
	lg.Stdout, lg.Stderr = progress, progress
	if err := lg.Start(); err != nil {
		t.Fatal(err)
	}
	loadDone := make(chan error, 1)
	go func() { loadDone <- lg.Wait() }()
	t.Cleanup(func() {
		if lg.ProcessState == nil {
			_ = lg.Process.Kill()
			<-loadDone
		}
	})
	// The progress bar is drawn when the attack starts, after setup.
	kittest.WaitFor(t, 60*time.Second, "loadgen attacking", func() bool { return progress.contains("failed ") })
	began := time.Now()
	tl := &timeline{t: t, began: began, progress: progress}
	tl.note("load started: %d req/s for %s over the journey mix", rate, loadTime)
	// A few seconds of steady load first, so that every kind of request
	// (orders being read back included) is in flight when the first
	// instance goes.
	kittest.WaitFor(t, 20*time.Second, "steady load", func() bool {
		n, _ := strconv.Atoi(lastMatch(barCount, progress.tail(400)))
		return n >= 3*rate
	})

	h := &harness{p: p}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := restart.Options{ReadyTimeout: 30 * time.Second, StopTimeout: 15 * time.Second,
		Log: func(e restart.Event) {
			tl.note("%-8s %-10s %s (registered %d)", e.Service, e.Step, e.Instance, e.Registered)
		}}
	restarted := 0
	for round := 1; round <= maxRounds; round++ {
		roundStart := time.Now()
		for _, svc := range []string{"users", "products", "payments", "orders"} {
			n := len(h.Running(svc))
			if err := restart.Service(ctx, h, svc, opts); err != nil {
				t.Fatalf("rolling restart of %s (round %d): %v", svc, round, err)
			}
			restarted += n
		}
		tl.note("round %d over: %d instances replaced so far", round, restarted)
		if left := loadTime - time.Since(began); left < 2*time.Since(roundStart) {
			break
		}
	}
	select {
	case err := <-loadDone:
		t.Fatalf("the load ended (%v) before the restarts did: lengthen it", err)
	default:
	}
	select {
	case err := <-loadDone:
		if err != nil {
			t.Fatalf("loadgen: %v\n%s", err, progress.tail(2000))
		}
	case <-time.After(loadTime + 60*time.Second):
		t.Fatal("loadgen did not end")
	}

	var s struct {
		Requests, Failed int64
		DurationS        float64 `json:"duration_s"`
		Rate             float64
		Errors           []struct {
			Status int
			Code   string
			Count  int64
		}
		Routes []struct {
			Route            string
			Requests, Failed int64
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	tl.note("load over: %d requests in %.1fs at %.1f/s, %d failed, %d instances replaced; by route %+v",
		s.Requests, s.DurationS, s.Rate, s.Failed, restarted, s.Routes)
	if s.Failed != 0 {
		t.Errorf("%d of %d requests failed during the rolling restart: %+v\n%s", s.Failed, s.Requests, s.Errors, progress.tail(3000))
	}
	if s.Requests < int64(rate*loadTime.Seconds())*9/10 {
		t.Errorf("only %d requests sent, want about %d", s.Requests, int(rate*loadTime.Seconds()))
	}

	wantSagasFinished(t, p)
	wantCheckClean(t, p)
}

// wantSagasFinished waits until no order is PENDING and no saga is
// running or compensating, then requires that none needs attention.
func wantSagasFinished(t *testing.T, p *platform) {
	t.Helper()
	var dsn string
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			dsn = v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := pg.Open(ctx, dsn, "orders")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	kittest.WaitFor(t, 30*time.Second, "every saga finished", func() bool {
		return count(`SELECT count(*) FROM orders WHERE status = 'PENDING'`) == 0 &&
			count(`SELECT count(*) FROM sagas WHERE status IN ('running', 'compensating')`) == 0
	})
	rows, err := db.QueryContext(ctx, `SELECT status, count(*) FROM orders GROUP BY status ORDER BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byStatus := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		byStatus[st] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("orders by status: %v", byStatus)
	if byStatus["CONFIRMED"] == 0 {
		t.Error("no order was confirmed: the load placed none")
	}
	if n := byStatus["REQUIRES_ATTENTION"] + count(`SELECT count(*) FROM sagas WHERE status = 'requires_attention'`); n > 0 {
		t.Errorf("%d orders or sagas need attention after the rolling restart", n)
	}
}

// harness is the e2e platform as restart drives it. Its methods run on
// the test's goroutine only, as p.procs is not locked.
type harness struct{ p *platform }

// harnessInstance names an instance by its pid for the timeline.
type harnessInstance struct{ *instance }

func (in harnessInstance) String() string {
	return fmt.Sprintf("%s[pid %d]", in.name, in.cmd.Process.Pid)
}

func (h *harness) Running(svc string) []restart.Instance {
	var out []restart.Instance
	for _, in := range h.p.procs[svc] {
		if in.cmd.ProcessState == nil {
			out = append(out, harnessInstance{in})
		}
	}
	return out
}

func (h *harness) Start(_ context.Context, svc string) (restart.Instance, error) {
	return harnessInstance{h.p.start(svc)}, nil
}

func (h *harness) Registered(_ context.Context, svc string) (int, error) {
	return len(h.p.instances(svc)), nil
}

func (h *harness) Stop(ctx context.Context, ri restart.Instance) error {
	in := ri.(harnessInstance).instance
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- in.cmd.Wait() }()
	select {
	case err := <-exited:
		h.p.procs[in.name] = removeInstance(h.p.procs[in.name], in)
		if err != nil {
			return fmt.Errorf("exit after SIGTERM: %w", err)
		}
		return nil
	case <-ctx.Done():
		_ = in.cmd.Process.Kill()
		<-exited
		return fmt.Errorf("no exit after SIGTERM: %w", ctx.Err())
	}
}

// timeline logs steps with the time since the load began and the load's
// progress so far (answers, failures) as loadgen's progress bar shows it.
type timeline struct {
	t        *testing.T
	began    time.Time
	progress *lockedBuffer
}

var (
	barFailed = regexp.MustCompile(`failed (\d+)`)
	barCount  = regexp.MustCompile(`(\d+)/\d+`)
)

func (tl *timeline) note(format string, args ...any) {
	tl.t.Helper()
	s := tl.progress.tail(400)
	failed, answered := lastMatch(barFailed, s), lastMatch(barCount, s)
	tl.t.Logf("+%5.1fs  answered %5s failed %3s  %s", time.Since(tl.began).Seconds(), answered, failed, fmt.Sprintf(format, args...))
}

func lastMatch(re *regexp.Regexp, s string) string {
	m := re.FindAllStringSubmatch(s, -1)
	if len(m) == 0 {
		return "?"
	}
	return m[len(m)-1][1]
}

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Contains(b.buf.Bytes(), []byte(s))
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return string(s)
}
