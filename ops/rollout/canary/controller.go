package canary

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/sd"
	switchover "github.com/kitshop/kitshop/ops/rollout/switch"
)

// Config is one canary rollout.
type Config struct {
	Service, Version string
	// Stable is the version compared against; empty: the rollout's
	// stable version, else the only other registered version.
	Stable string
	// Steps are the canary's shares in percent, rising, ending at 100.
	Steps []int
	// StepDuration is how long each step is observed before it may
	// advance; MaxWait how much longer a step without enough canary
	// traffic may wait before the canary is rolled back.
	StepDuration, MaxWait time.Duration
	// Poll is how often metrics are read and the canary judged.
	Poll time.Duration
	Thresholds
	// Restart starts again a canary of Version that was rolled back.
	Restart bool
	// Gateways is the registered service whose /metrics are read.
	Gateways string
	Scheme   string
	// Timeout bounds each registry call and scrape.
	Timeout time.Duration
	Now     func() time.Time
	// Log receives the timeline, one line per judgement.
	Log func(string)
}

// Outcome is how a Run ended.
type Outcome string

const (
	Promoted   Outcome = "promoted"
	RolledBack Outcome = "rolled_back"
)

// errChanged: someone else (a switch, another controller's rollback)
// changed the rollout under this controller.
var errChanged = errors.New("the rollout was changed by someone else")

// Controller runs canary rollouts against one platform.
type Controller struct {
	etcd *clientv3.Client
	http *http.Client
}

// NewController returns a controller using etcd for the rollout document
// and discovery, and client to read the gateways' metrics (nil: plain
// HTTP; every scrape is bounded by Config.Timeout either way).
func NewController(etcd *clientv3.Client, client *http.Client) *Controller {
	if client == nil {
		client = &http.Client{}
	}
	return &Controller{etcd: etcd, http: client}
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Steps) == 0 {
		c.Steps = []int{5, 25, 50, 100}
	}
	for i, s := range c.Steps {
		if s <= 0 || s > 100 || (i > 0 && s <= c.Steps[i-1]) {
			return c, fmt.Errorf("steps %v: want rising percents in 1..100", c.Steps)
		}
	}
	if c.Steps[len(c.Steps)-1] != 100 {
		c.Steps = append(c.Steps, 100)
	}
	if c.StepDuration <= 0 || c.Poll <= 0 || c.MaxWait < 0 {
		return c, errors.New("step duration and poll interval must be > 0, max wait >= 0")
	}
	if c.Gateways == "" {
		c.Gateways = "gateway"
	}
	if c.Scheme == "" {
		c.Scheme = "https"
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = func(string) {}
	}
	return c, nil
}

// Run takes cfg.Version from its current share (0, or the share a
// previous controller left it at: it resumes rather than repeats) to 100%
// or back to 0%, and returns the final rollout.
func (ctl *Controller) Run(ctx context.Context, cfg Config) (Outcome, sd.Rollout, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", sd.Rollout{}, errs.Wrap(errs.InvalidArgument, errs.ReasonValidation, err, err.Error())
	}
	r, err := ctl.begin(ctx, cfg)
	if err != nil || r.State != sd.StateCanary {
		return outcomeOf(r), r, err
	}
	start := cfg.Now()
	for {
		r, err = ctl.observeStep(ctx, cfg, r, start)
		if err != nil || r.State != sd.StateCanary {
			return outcomeOf(r), r, err
		}
	}
}

func outcomeOf(r sd.Rollout) Outcome {
	switch r.State {
	case sd.StatePromoted:
		return Promoted
	case sd.StateRolledBack:
		return RolledBack
	}
	return ""
}

// begin resumes the canary in progress or starts it at the first step.
func (ctl *Controller) begin(ctx context.Context, cfg Config) (sd.Rollout, error) {
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	r, _, found, err := sd.GetRollout(rctx, ctl.etcd, cfg.Service)
	cancel()
	if err != nil && errs.KindOf(err) != errs.InvalidArgument {
		return sd.Rollout{}, err
	}
	if found && err == nil {
		switch {
		case r.State == sd.StateCanary && r.Canary == cfg.Version:
			cfg.Log(fmt.Sprintf("resuming the canary of %s %s at step %d (%d%%): a step resumed is observed afresh", cfg.Service, cfg.Version, r.Step, r.Weights[cfg.Version]))
			return r, nil
		case r.State == sd.StateCanary:
			return r, errs.Newf(errs.FailedPrecondition, "CANARY_IN_PROGRESS", "a canary of %s %s is in progress; let it finish or switch", cfg.Service, r.Canary)
		case r.State == sd.StateRolledBack && r.Canary == cfg.Version && !cfg.Restart:
			last := r.Decisions[len(r.Decisions)-1]
			return r, errs.Newf(errs.FailedPrecondition, "CANARY_ROLLED_BACK", "%s %s was rolled back at %s (%s); pass -restart to try it again",
				cfg.Service, cfg.Version, last.At.Format(time.RFC3339), last.Reason)
		case r.Weights[cfg.Version] == 100:
			cfg.Log(fmt.Sprintf("%s %s already has 100%% of traffic", cfg.Service, cfg.Version))
			r.State = sd.StatePromoted
			return r, nil
		}
	}
	stable := cfg.Stable
	if stable == "" && found && err == nil {
		stable = r.Stable
	}
	live, err := switchover.LiveVersions(ctx, ctl.etcd, cfg.Service, cfg.Timeout)
	if err != nil {
		return sd.Rollout{}, err
	}
	if stable == "" || stable == cfg.Version {
		stable = ""
		for v := range live {
			if v != cfg.Version {
				if stable != "" {
					return sd.Rollout{}, errs.Newf(errs.FailedPrecondition, "STABLE_UNKNOWN", "%s runs several versions besides %s; name the stable one with -stable", cfg.Service, cfg.Version)
				}
				stable = v
			}
		}
	}
	if live[cfg.Version] == 0 || stable == "" || live[stable] == 0 {
		return sd.Rollout{}, errs.Newf(errs.FailedPrecondition, "NO_INSTANCES", "a canary needs live instances of both versions: %s %s has %d, stable %q has %d",
			cfg.Service, cfg.Version, live[cfg.Version], stable, live[stable])
	}
	share := cfg.Steps[0]
	return ctl.write(ctx, cfg, -1, func(r sd.Rollout) sd.Rollout {
		if r.State == sd.StateCanary && r.Canary == cfg.Version {
			return r // a second controller started it meanwhile: join it
		}
		r = withShare(r, cfg.Service, stable, cfg.Version, share)
		r.State = sd.StateCanary
		r.Decisions = switchover.AppendDecision(r.Decisions, sd.Decision{At: cfg.Now().UTC(), Step: r.Step, Share: share, Action: ActionStart,
			Reason: fmt.Sprintf("canary %s against stable %s", cfg.Version, stable)})
		cfg.Log(fmt.Sprintf("step %d: %s %d%% / %s %d%% (start)", r.Step, cfg.Version, share, stable, 100-share))
		return r
	})
}

// withShare is r with the canary at share percent (100: promoted), one
// step on. The caller stamps UpdatedAt (Controller.write does).
func withShare(r sd.Rollout, service, stable, canary string, share int) sd.Rollout {
	r.Service, r.Stable, r.Canary = service, stable, canary
	r.Weights = map[string]int{canary: share}
	if share < 100 {
		r.Weights[stable] = 100 - share
	}
	r.Step++
	return r
}

// write applies change to the stored rollout if it is still at step
// (-1: whatever it is), and returns what was written; errChanged when
// the rollout moved on meanwhile.
func (ctl *Controller) write(ctx context.Context, cfg Config, step int, change func(sd.Rollout) sd.Rollout) (sd.Rollout, error) {
	return switchover.Update(ctx, ctl.etcd, cfg.Service, cfg.Timeout, func(r sd.Rollout, _ bool) (sd.Rollout, error) {
		if step >= 0 && (r.Step != step || r.State != sd.StateCanary || r.Canary != cfg.Version) {
			return r, errChanged
		}
		next := change(r)
		next.UpdatedAt = cfg.Now().UTC()
		return next, nil
	})
}

// observeStep watches the current step until it is judged, and applies
// the judgement.
func (ctl *Controller) observeStep(ctx context.Context, cfg Config, r sd.Rollout, runStart time.Time) (sd.Rollout, error) {
	share := r.Weights[cfg.Version]
	stepStart := cfg.Now()
	var w window
	ctl.sample(ctx, cfg, &w) // the baseline
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-tick.C:
		}
		// Someone else may have moved the rollout (a switch, a second
		// controller): follow the document, never overwrite it.
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		cur, _, found, err := sd.GetRollout(rctx, ctl.etcd, cfg.Service)
		cancel()
		if err == nil && (!found || cur.Step != r.Step) {
			if found && cur.State == sd.StateCanary && cur.Canary == cfg.Version {
				cfg.Log(fmt.Sprintf("step %d was judged elsewhere; following at step %d (%d%%)", r.Step, cur.Step, cur.Weights[cfg.Version]))
				return cur, nil
			}
			cfg.Log(fmt.Sprintf("the rollout of %s changed under the controller (state %q); stopping", cfg.Service, cur.State))
			return cur, errChanged
		}
		counts, scrapeErr := ctl.sample(ctx, cfg, &w)
		canary, stable := counts[cfg.Version].Sample(), counts[r.Stable].Sample()
		elapsed := cfg.Now().Sub(stepStart)
		action, reason := Judge(canary, stable, cfg.Thresholds, elapsed >= cfg.StepDuration, elapsed >= cfg.StepDuration+cfg.MaxWait)
		if scrapeErr != nil {
			reason += " (metrics: " + scrapeErr.Error() + ")"
		}
		d := sd.Decision{At: cfg.Now().UTC(), Step: r.Step, Share: share, Action: action, Reason: reason,
			CanaryRequests: canary.Requests, StableRequests: stable.Requests,
			CanaryErrorRate: canary.ErrorRate(), StableErrorRate: stable.ErrorRate(),
			CanaryP99: finite(canary.P99), StableP99: finite(stable.P99)}
		cfg.Log(timeline(cfg.Now().Sub(runStart), d))
		if action == ActionHold {
			continue
		}
		next := share
		if action == ActionAdvance {
			next = nextShare(cfg.Steps, share)
		}
		written, err := ctl.write(ctx, cfg, r.Step, func(cur sd.Rollout) sd.Rollout {
			switch {
			case action == ActionRollback:
				cur.Weights = map[string]int{cur.Stable: 100}
				cur.Step++
				cur.State = sd.StateRolledBack
			case next == 100:
				cur = withShare(cur, cfg.Service, cur.Stable, cfg.Version, 100)
				cur.Stable, cur.Canary, cur.State = cfg.Version, "", sd.StatePromoted
				d.Action = ActionPromote
			default:
				cur = withShare(cur, cfg.Service, cur.Stable, cfg.Version, next)
			}
			cur.Decisions = switchover.AppendDecision(cur.Decisions, d)
			return cur
		})
		if err == nil {
			cfg.Log(fmt.Sprintf("step %d: %s, weights %v", written.Step, d.Action, written.Weights))
		}
		return written, err
	}
}

// sample reads the gateways and returns each version's counts since w
// began (the first call sets w's baseline).
func (ctl *Controller) sample(ctx context.Context, cfg Config, w *window) (map[string]Counts, error) {
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	gateways, err := sd.List(sctx, ctl.etcd, cfg.Gateways)
	if err != nil {
		return nil, err
	}
	if len(gateways) == 0 {
		return nil, errors.New("no " + cfg.Gateways + " instance is registered")
	}
	var urls []string
	for _, g := range gateways {
		urls = append(urls, cfg.Scheme+"://"+g.HTTPAddr+"/metrics")
	}
	slices.Sort(urls)
	now, err := scrapeGateways(sctx, ctl.http, urls, cfg.Service)
	if err != nil {
		return nil, err
	}
	return w.since(now), nil
}

func nextShare(steps []int, share int) int {
	for _, s := range steps {
		if s > share {
			return s
		}
	}
	return 100
}

func finite(f float64) float64 {
	if f != f { // NaN: nothing observed
		return 0
	}
	return f
}

// timeline is one line of the controller's log.
func timeline(at time.Duration, d sd.Decision) string {
	return fmt.Sprintf("t+%5.1fs step %d share %3d%%  canary %5.0f req %6.2f%% err p99 %-8s  stable %6.0f req %6.2f%% err p99 %-8s  %s: %s",
		at.Seconds(), d.Step, d.Share, d.CanaryRequests, 100*d.CanaryErrorRate, secs(d.CanaryP99),
		d.StableRequests, 100*d.StableErrorRate, secs(d.StableP99), d.Action, d.Reason)
}
