package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/ops/launcher/control"
)

// options are the command's flags.
type options struct {
	socket, tlsDir, binDir, loadgen, apiKey string
	insecure, skipCheck                     bool
	rate                                    int
	duration, warmup, settle                time.Duration
	maxFailed                               int
	service, mode                           string
	pgData, pgCtl, pgLog                    string
}

func parse(args []string, stderr io.Writer) (*options, *spec, error) {
	o := &options{}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.socket, "control", control.DefaultPath, "the launcher's control socket (make run -port-offset N serves .run/launcher+N.sock)")
	fs.StringVar(&o.tlsDir, "tls-dir", filepath.Join(".run", "tls"), "make run's development CA and certificates")
	insecure := config.Bool(fs, "insecure", "KITSHOP_INSECURE", false, "the platform runs without TLS (KITSHOP_INSECURE=1 make run)")
	fs.StringVar(&o.binDir, "bin-dir", ".bin", "where make run built the binaries (orders check runs from there)")
	fs.StringVar(&o.loadgen, "loadgen", "", "ops/loadgen binary (default: <bin-dir>/loadgen, built when missing)")
	apiKey := config.String(fs, "api-key", "KITSHOP_CHAOS_API_KEY", "", "X-API-Key of a tier that takes -rate (make run with KITSHOP_API_KEYS=chaos:enterprise, then -api-key chaos)")
	fs.IntVar(&o.rate, "rate", 20, "load in requests per second over the journey mix")
	fs.DurationVar(&o.duration, "duration", 0, "how long the fault lasts (default: the scenario's)")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "steady load before the fault")
	fs.DurationVar(&o.settle, "settle", 15*time.Second, "load after the fault healed, to see the recovery under load")
	fs.IntVar(&o.maxFailed, "max-failed", -1, "failed-request budget (default: the scenario's)")
	fs.BoolVar(&o.skipCheck, "skip-check", false, "skip `orders check` (it needs the orders database: run make run and this with the same DATABASE_URL)")
	fs.StringVar(&o.service, "service", "", "kill, partition: the service to hit (default orders for kill, products for partition)")
	fs.StringVar(&o.mode, "mode", ModeBlackhole, "partition: blackhole (packets vanish) or drop (connections reset)")
	pgData := config.String(fs, "pg-data", "PGDATA", "", "postgres-restart: the cluster's data directory")
	fs.StringVar(&o.pgLog, "pg-log", "", "postgres-restart: where the restarted server logs (pg_ctl -l; default <pg-data>/chaos-postgres.log)")
	fs.StringVar(&o.pgCtl, "pg-ctl", "", "postgres-restart: pg_ctl (default: from PATH or /usr/lib/postgresql/*/bin)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: go run ./ops/chaos [flags] <scenario>\n\nScenarios (against make run, under load):\n")
		for _, s := range scenarios {
			pg := ""
			if s.needsDatabase != "" {
				pg = "; needs make run on Postgres"
			}
			fmt.Fprintf(stderr, "  %-17s %s\n  %-17s fault %v by default; failed-request budget %s%s\n", s.name, s.about, "", s.duration, s.budget, pg)
		}
		fmt.Fprint(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := config.Parse(fs, args); err != nil {
		return nil, nil, err
	}
	o.insecure, o.apiKey, o.pgData = *insecure, *apiKey, *pgData
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, nil, errors.New("want exactly one scenario")
	}
	i := slices.IndexFunc(scenarios, func(s spec) bool { return s.name == fs.Arg(0) })
	if i < 0 {
		return nil, nil, fmt.Errorf("unknown scenario %q (known: %s)", fs.Arg(0), strings.Join(scenarioNames(), ", "))
	}
	s := &scenarios[i]
	if o.duration == 0 {
		o.duration = s.duration
	}
	switch {
	case o.rate < 1 || o.rate > 1000:
		return nil, nil, errors.New("-rate must be from 1 to 1000")
	case o.duration <= 0 || o.warmup <= 0 || o.settle <= 0:
		return nil, nil, errors.New("-duration, -warmup and -settle must be positive")
	case o.mode != ModeBlackhole && o.mode != ModeDrop:
		return nil, nil, fmt.Errorf("-mode %q: want blackhole or drop", o.mode)
	}
	if o.loadgen == "" {
		o.loadgen = filepath.Join(o.binDir, "loadgen")
	}
	if o.insecure {
		o.tlsDir = ""
	}
	return o, s, nil
}

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// run is main without the process: 0 the invariants held, 1 they broke
// (or the scenario failed half-way), 2 bad usage or nothing to run against.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, s, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	tl := &timeline{w: stdout}
	if err := preflight(o, s); err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	p, err := connect(ctx, o.socket, o.tlsDir, tl.note)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	defer p.Close()
	if err := checkGateway(ctx, p, o); err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	lg, err := ensureLoadgen(ctx, o.loadgen)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	o.loadgen = lg
	v, err := runScenario(ctx, s, &env{p: p, opt: o, log: tl.note}, tl)
	if err != nil {
		fmt.Fprintf(stderr, "chaos %s: %v\n", s.name, err)
		return 1
	}
	v.print(stdout, s.name)
	if !v.ok() {
		return 1
	}
	return 0
}

// preflight refuses what cannot work before touching the platform.
func preflight(o *options, s *spec) error {
	if s.needsDatabase != "" && ordersDatabase() == "" {
		return fmt.Errorf("%s needs make run on Postgres: %s. Run make run with DATABASE_URL (or KITSHOP_<SERVICE>_DATABASE_URL) set, and this with the same variables", s.name, s.needsDatabase)
	}
	if !o.skipCheck && ordersDatabase() == "" {
		return errors.New("`orders check` reads the orders database, and none is set: run make run with DATABASE_URL and this with the same DATABASE_URL (or pass -skip-check, and the invariant is not checked)")
	}
	if !o.skipCheck {
		if _, err := os.Stat(filepath.Join(o.binDir, "orders")); err != nil {
			return fmt.Errorf("orders check runs %s, which make run builds: %w (or pass -bin-dir)", filepath.Join(o.binDir, "orders"), err)
		}
	}
	return nil
}

// checkGateway makes sure the load will not be rate limited away: the
// anonymous tier allows 10 requests a minute.
func checkGateway(ctx context.Context, p *platform, o *options) error {
	if o.apiKey == "" {
		return errors.New("the gateway limits anonymous clients to 10 requests a minute: start make run with KITSHOP_API_KEYS=chaos:enterprise and pass -api-key chaos (or KITSHOP_CHAOS_API_KEY=chaos)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.tlsDir != "" {
		v := p.view.Client.Transport.(*http.Transport)
		tr.TLSClientConfig = v.TLSClientConfig.Clone()
	}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := gatewayGet(cctx, c, p.gateway+"/api/v1/products?page_size=1", o.apiKey)
	if err != nil {
		return fmt.Errorf("the gateway at %s: %w", p.gateway, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the gateway at %s answers %s to a catalog read", p.gateway, resp.Status)
	}
	var limit int
	if _, err := fmt.Sscan(resp.Header.Get("RateLimit-Limit"), &limit); err == nil && limit > 0 && limit < o.rate*60 {
		return fmt.Errorf("-api-key %q has a limit of %d requests a minute, below -rate %d/s: give it a bigger tier (KITSHOP_API_KEYS=%s:enterprise)", o.apiKey, limit, o.rate, o.apiKey)
	}
	return nil
}

// runScenario is the timeline: prepare, load, warm-up, fault, heal,
// recovery under load, the load's end, cleanup, and the invariants.
func runScenario(ctx context.Context, s *spec, e *env, tl *timeline) (v verdict, err error) {
	f, err := s.make(e)
	if err != nil {
		return v, err
	}
	// cleanup runs whatever happens, on a context of its own: an
	// interrupted scenario still resumes a paused registry.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if cerr := f.cleanup(cctx); cerr != nil {
			e.log("cleanup: %v", cerr)
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()
	tl.note("chaos %s: %s", s.name, s.about)
	if err := f.prepare(ctx); err != nil {
		return v, fmt.Errorf("prepare: %w", err)
	}
	o := e.opt
	loadTime := o.warmup + o.duration + o.settle
	work, err := os.MkdirTemp("", "kitshop-chaos-")
	if err != nil {
		return v, err
	}
	defer os.RemoveAll(work)
	ca := ""
	if o.tlsDir != "" {
		ca = filepath.Join(o.tlsDir, "ca.pem")
	}
	l, err := startLoad(loadConfig{binary: o.loadgen, target: e.p.gateway, caFile: ca, apiKey: o.apiKey, rate: o.rate, duration: loadTime}, work)
	if err != nil {
		return v, err
	}
	defer func() {
		if err != nil {
			l.stop()
			e.log("loadgen output (tail):\n%s", l.out.tail(2000))
		}
	}()
	if err := l.waitAttacking(ctx, 2*time.Minute); err != nil {
		return v, err
	}
	tl.began = time.Now()
	tl.note("load: %d req/s over the journey mix for %v", o.rate, loadTime)
	if err := sleepCtx(ctx, o.warmup); err != nil {
		return v, err
	}
	injected := time.Now()
	before := l.failedSoFar()
	if err := f.inject(ctx); err != nil {
		return v, fmt.Errorf("inject: %w", err)
	}
	if err := sleepCtx(ctx, o.duration-time.Since(injected)); err != nil && ctx.Err() != nil {
		return v, err
	}
	if err := f.heal(ctx); err != nil {
		return v, fmt.Errorf("heal: %w", err)
	}
	healed := time.Now()
	tl.note("healed (%d requests failed so far, %d before the fault)", l.failedSoFar(), before)
	if err := f.recovered(ctx); err != nil {
		v.problems = append(v.problems, "not recovered: "+err.Error())
	}
	v.recovery, v.sinceFault = time.Since(healed), time.Since(injected)
	tl.note("platform whole again: every running instance registered")
	sum, err := l.wait(time.Until(tl.began.Add(loadTime)) + 90*time.Second)
	if err != nil {
		return v, err
	}
	tl.note("load over: %d requests, %d failed, p50 %.0f ms, p99 %.0f ms, max %.0f ms",
		sum.Requests, sum.Failed, sum.Latency.P50, sum.Latency.P99, sum.Latency.Max)
	for _, er := range sum.Errors {
		tl.note("  failed: %d x status %d %s", er.Count, er.Status, er.Code)
	}
	v.requests, v.failed = sum.Requests, sum.Failed
	v.failedDuring = l.failuresBetween(injected, healed)
	v.failedAfter = l.failuresBetween(healed, time.Now().Add(time.Hour))
	if last := l.lastFailure(); last.After(healed) {
		v.lastFailure = last.Sub(healed)
	}
	v.allowed = s.budget.allowed(sum.Requests)
	if o.maxFailed >= 0 {
		v.allowed = int64(o.maxFailed)
	}
	if v.failed > v.allowed {
		v.problems = append(v.problems, fmt.Sprintf("%d requests failed, budget %d", v.failed, v.allowed))
	}
	if sum.Requests < int64(float64(o.rate)*loadTime.Seconds()*0.8) {
		v.problems = append(v.problems, fmt.Sprintf("only %d requests were sent (want about %d): the load could not keep its rate", sum.Requests, int(float64(o.rate)*loadTime.Seconds())))
	}
	// The platform as found before the check, so the check reads a
	// platform at rest.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	cerr := f.cleanup(cctx)
	cancel()
	if cerr != nil {
		return v, fmt.Errorf("cleanup: %w", cerr)
	}
	if o.skipCheck {
		v.check = "-skip-check"
		return v, nil
	}
	tl.note("orders check (repeated until clean, at most %v; orders younger than %v are in flight)", checkBound, checkGrace)
	out, clean, err := newChecker(filepath.Join(o.binDir, "orders"), e.p).run(ctx)
	if err != nil {
		return v, err
	}
	v.checked, v.checkClean, v.check = true, clean, out
	if !clean {
		v.problems = append(v.problems, "orders check found discrepancies")
	}
	return v, nil
}
