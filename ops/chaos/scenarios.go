package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/ops/launcher/control"
	"github.com/kitshop/kitshop/ops/rollout/restart"
)

// scenarios are issue 11's, in its order. Budgets are what the design
// promises, with room for a loaded 2-core machine (see each fault's
// comment for where the failures come from).
var scenarios = []spec{
	{name: "kill", about: "kill -9 of one instance of -service (orders by default) under load, a second one started first to take over",
		duration: 10 * time.Second, budget: budget{fraction: 0.05, floor: 10}, needsDatabase: secondInstance, make: newKill},
	{name: "etcd-down", about: "the registry (etcd) frozen with SIGSTOP, then resumed: services keep serving from what they know, registrations come back",
		duration: 30 * time.Second, budget: budget{fraction: 0.05, floor: 10}, make: newEtcdDown},
	{name: "postgres-restart", about: "Postgres restarted with pg_ctl (-pg-data): statements wait for it to come back (up to 2 s), so requests slow down instead of failing",
		duration: 5 * time.Second, budget: budget{fraction: 0.02, floor: 5}, needsDatabase: "it restarts Postgres; the in-memory stores have none", make: newPostgresRestart},
	{name: "payments-slow", about: "payments slowed to 2 s a call: a slow instance replaces the normal one, then is rolled back",
		duration: 20 * time.Second, budget: budget{fraction: 0.05, floor: 10}, needsDatabase: secondInstance, make: newPaymentsSlow},
	{name: "partition", about: "one instance of -service (products by default) cut off by a fault proxy (-mode blackhole or drop), a second one serving",
		// Today's behaviour, measured: a blackholed instance fails about
		// half of its service's calls while the partition lasts (504
		// ATTEMPT_TIMEOUT): the gateway does not retry a read whose
		// attempt timed out (it may have run), and kit/sd does not eject
		// an instance that keeps timing out. 46 of 320 requests with an
		// 8 s partition in a 16 s run.
		duration: 20 * time.Second, budget: budget{fraction: 0.20, floor: 10}, needsDatabase: secondInstance, make: newPartition},
	// Not a failure but the change every deploy makes: issue 11 promises
	// zero failed requests, so the budget is zero.
	{name: "rolling-restart", about: "every instance of users, products, payments and orders replaced one at a time (ops/rollout restart all)",
		duration: time.Second, budget: budget{}, needsDatabase: secondInstance, make: newRollingRestart},
}

// secondInstance is why the scenarios that start instances need
// Postgres: measured without it, a second products instance had a
// catalog of its own (126 PRODUCT_NOT_FOUND in one partition run) and a
// killed orders instance took its orders with it.
const secondInstance = "it starts instances beside make run's, and with the in-memory stores each instance " +
	"has a store of its own (a second products serves another catalog, a killed orders loses its orders)"

// rollingRestart is `go run ./ops/rollout restart all` under load.
type rollingRestart struct{ e *env }

func newRollingRestart(e *env) (fault, error) { return &rollingRestart{e: e}, nil }

func (r *rollingRestart) prepare(ctx context.Context) error { return registryWhole(ctx, r.e) }

func (r *rollingRestart) inject(ctx context.Context) error {
	p := &restart.SocketPlatform{Control: r.e.p.ctl, Registry: r.e.p.view}
	opts := restart.Options{Log: func(ev restart.Event) {
		r.e.log("%s %s %s (registered %d)", ev.Service, ev.Step, ev.Instance, ev.Registered)
	}}
	for _, svc := range restart.Services {
		if err := restart.Service(ctx, p, svc, opts); err != nil {
			return err
		}
	}
	return nil
}

func (r *rollingRestart) heal(context.Context) error { return nil }

func (r *rollingRestart) recovered(ctx context.Context) error { return registryWhole(ctx, r.e) }

func (r *rollingRestart) cleanup(context.Context) error { return nil }

// registryWhole waits until every instance the launcher runs is
// registered (within 60 s: a lost lease is re-granted with backoff).
func registryWhole(ctx context.Context, e *env) error {
	return waitFor(ctx, 60*time.Second, "every running instance registered", func(ctx context.Context) bool {
		all, err := e.p.ctl.List(ctx, "")
		if err != nil {
			return false
		}
		for _, in := range all {
			if in.Service == "registry" || in.HTTPAddr == "" {
				continue
			}
			regs, err := e.p.registered(ctx, in.Service)
			if err != nil || !slices.ContainsFunc(regs, func(r sd.Instance) bool { return r.HTTPAddr == in.HTTPAddr }) {
				return false
			}
		}
		return true
	})
}

// original picks the instance of service the launcher started at boot,
// else the oldest.
func original(ctx context.Context, e *env, service string) (control.Instance, error) {
	all, err := e.p.ctl.List(ctx, service)
	if err != nil {
		return control.Instance{}, err
	}
	if len(all) == 0 {
		return control.Instance{}, fmt.Errorf("no %s instance is running", service)
	}
	for _, in := range all {
		if !in.Extra {
			return in, nil
		}
	}
	return all[0], nil
}

// kill: SIGKILL one instance of a service that has two. Its in-flight
// calls fail (a write is sent once by the gateway) and new ones may reach
// it until its lease expires (KITSHOP_REGISTER_TTL, 10 s): reads are
// retried on the other instance, writes are not. Sagas it was running
// are resumed by the survivor under the saga lease.
type kill struct {
	e       *env
	service string
	extra   control.Instance
	victim  control.Instance
}

func newKill(e *env) (fault, error) {
	svc := e.opt.service
	if svc == "" {
		svc = "orders"
	}
	if !slices.Contains(restart.Services, svc) {
		return nil, fmt.Errorf("-service %q: want one of %v", svc, restart.Services)
	}
	return &kill{e: e, service: svc}, nil
}

func (k *kill) prepare(ctx context.Context) error {
	v, err := original(ctx, k.e, k.service)
	if err != nil {
		return err
	}
	k.victim = v
	k.extra, _, err = k.e.p.startExtra(ctx, k.service)
	return err
}

func (k *kill) inject(ctx context.Context) error {
	if _, err := k.e.p.ctl.Kill(ctx, k.victim.PID); err != nil {
		return err
	}
	k.e.log("killed %s with SIGKILL", k.victim)
	return nil
}

func (k *kill) heal(context.Context) error { return nil }

func (k *kill) recovered(ctx context.Context) error {
	// The dead instance leaves the registry when its lease expires.
	return waitFor(ctx, 60*time.Second, "the killed instance out of the registry", func(ctx context.Context) bool {
		regs, err := k.e.p.registered(ctx, k.service)
		return err == nil && !slices.ContainsFunc(regs, func(r sd.Instance) bool { return r.HTTPAddr == k.victim.HTTPAddr })
	})
}

// cleanup: the extra instance takes the victim's place, so the service
// has as many instances as before. If the kill never happened, the
// extra is stopped instead.
func (k *kill) cleanup(ctx context.Context) error {
	if k.extra.PID == 0 || k.victim.PID == 0 {
		return nil
	}
	if all, err := k.e.p.ctl.List(ctx, k.service); err == nil && slices.ContainsFunc(all, func(in control.Instance) bool { return in.PID == k.victim.PID }) {
		_, err := k.e.p.ctl.Stop(ctx, k.extra.PID)
		k.extra = control.Instance{}
		return err
	}
	return nil
}

// etcdDown freezes the registry process (SIGSTOP), which hosts etcd: no
// answer, no error, as a hung or partitioned etcd looks. Services keep
// their discovered instances (the watch only fails); on resume, leases
// older than their TTL expire at once and every instance re-registers
// (kit/sd.Registrar), which is the window where callers may find a
// service empty.
type etcdDown struct {
	e      *env
	paused bool
}

func newEtcdDown(e *env) (fault, error) { return &etcdDown{e: e}, nil }

func (d *etcdDown) prepare(ctx context.Context) error { return registryWhole(ctx, d.e) }

func (d *etcdDown) inject(ctx context.Context) error {
	if _, err := d.e.p.ctl.Pause(ctx, d.e.p.registry.PID); err != nil {
		return err
	}
	d.paused = true
	d.e.log("registry (etcd) paused with SIGSTOP")
	return nil
}

func (d *etcdDown) heal(ctx context.Context) error {
	if !d.paused {
		return nil
	}
	if _, err := d.e.p.ctl.Resume(ctx, d.e.p.registry.PID); err != nil {
		return err
	}
	d.paused = false
	d.e.log("registry (etcd) resumed")
	return nil
}

func (d *etcdDown) recovered(ctx context.Context) error { return registryWhole(ctx, d.e) }

func (d *etcdDown) cleanup(ctx context.Context) error { return d.heal(ctx) }

// redirected is one extra instance of service with a fault proxy in front
// of its gRPC port, the registry pointing callers at the proxy.
type redirected struct {
	in    control.Instance
	reg   sd.Instance
	proxy *Proxy
}

func startRedirected(ctx context.Context, e *env, service string, env ...string) (*redirected, error) {
	in, reg, err := e.p.startExtra(ctx, service, env...)
	r := &redirected{in: in, reg: reg}
	if err != nil {
		return r, err
	}
	if r.proxy, err = NewProxy(reg.GRPCAddr); err != nil {
		return r, err
	}
	e.log("fault proxy %s in front of %s (%s)", r.proxy.Addr(), in, reg.GRPCAddr)
	return r, e.p.redirect(ctx, service, reg, r.proxy.Addr())
}

// stop stops the instance (it deregisters), then closes the proxy.
func (r *redirected) stop(ctx context.Context, e *env) error {
	var err error
	if r.in.PID != 0 {
		_, err = e.p.ctl.Stop(ctx, r.in.PID)
		r.in = control.Instance{}
	}
	if r.proxy != nil {
		r.proxy.Close()
		r.proxy = nil
	}
	return err
}

// stillRedirected reports a registry entry the instance re-published
// with its own address (lease lost, readiness flipped): from then on the
// proxy is bypassed, and the scenario says so rather than claiming a
// fault that did not happen.
func (r *redirected) stillRedirected(ctx context.Context, e *env, service string) error {
	if r.proxy == nil || e.p.listedAt(ctx, service, r.proxy.Addr()) {
		return nil
	}
	return fmt.Errorf("%s re-registered its own address during the scenario: the fault proxy was bypassed from then on", r.in)
}

// partition: an instance cut off from every caller while it keeps its
// registration (its etcd link is fine). Callers' attempts to it time out
// (blackhole) or are refused (drop); reads move to the other instance
// after an unavailable attempt, and the caller's breaker and retry
// budget decide the rest.
type partition struct {
	e       *env
	service string
	cut     *redirected
}

func newPartition(e *env) (fault, error) {
	svc := e.opt.service
	if svc == "" {
		svc = "products"
	}
	if !slices.Contains(restart.Services, svc) {
		return nil, fmt.Errorf("-service %q: want one of %v", svc, restart.Services)
	}
	return &partition{e: e, service: svc}, nil
}

func (p *partition) prepare(ctx context.Context) (err error) {
	p.cut, err = startRedirected(ctx, p.e, p.service)
	return err
}

func (p *partition) inject(context.Context) error {
	p.cut.proxy.Set(p.e.opt.mode, 0)
	p.e.log("partitioned %s: proxy in %s mode", p.cut.in, p.e.opt.mode)
	return nil
}

func (p *partition) heal(ctx context.Context) error {
	err := p.cut.stillRedirected(ctx, p.e, p.service)
	p.cut.proxy.Set(ModePass, 0)
	p.e.log("partition healed")
	return err
}

func (p *partition) recovered(ctx context.Context) error { return registryWhole(ctx, p.e) }

func (p *partition) cleanup(ctx context.Context) error {
	if p.cut == nil {
		return nil
	}
	return p.cut.stop(ctx, p.e)
}

// paymentsSlow: every call to payments takes 2 s more. A payments
// instance started with KITSHOP_FAULT_LATENCY=2s (kit/fault: the delay is
// added inside the process, before each API call's handler) takes over
// from the normal one (started, registered, then the normal one stopped
// gracefully), and at the heal a normal instance replaces it the same
// way: the rollback an operator would do. Checkouts slow down (the saga
// waits on Charge), nothing may fail.
type paymentsSlow struct {
	e    *env
	slow control.Instance
}

const slowLatency = 2 * time.Second

func newPaymentsSlow(e *env) (fault, error) { return &paymentsSlow{e: e}, nil }

func (s *paymentsSlow) prepare(context.Context) error { return nil }

func (s *paymentsSlow) inject(ctx context.Context) error {
	normal, err := s.e.p.ctl.List(ctx, "payments")
	if err != nil {
		return err
	}
	s.slow, _, err = s.e.p.startExtra(ctx, "payments", "KITSHOP_FAULT_LATENCY="+slowLatency.String(), "KITSHOP_SERVICE_VERSION=slow")
	if err != nil {
		return err
	}
	for _, in := range normal {
		if _, err := s.e.p.ctl.Stop(ctx, in.PID); err != nil {
			return err
		}
		s.e.log("stopped %s: every payment now goes to the slow one (+%v a call)", in, slowLatency)
	}
	return nil
}

func (s *paymentsSlow) heal(ctx context.Context) error {
	if s.slow.PID == 0 {
		return nil
	}
	if _, _, err := s.e.p.startExtra(ctx, "payments"); err != nil {
		return err
	}
	if _, err := s.e.p.ctl.Stop(ctx, s.slow.PID); err != nil {
		return err
	}
	s.slow = control.Instance{}
	s.e.log("rolled back: a normal payments instance replaced the slow one")
	return nil
}

func (s *paymentsSlow) recovered(ctx context.Context) error { return registryWhole(ctx, s.e) }

// cleanup rolls back when the scenario stopped half-way.
func (s *paymentsSlow) cleanup(ctx context.Context) error { return s.heal(ctx) }
