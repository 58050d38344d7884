// Package switchover is `ops/rollout switch <service> <version>`:
// blue-green deployment. It moves 100% of a service's traffic to one
// version in a single write of the service's rollout document
// (/kitshop/rollouts/<service>, kit/sd.Rollout), which every caller's
// Backend applies within a second; switching back is the same command
// with the old version, just as fast. The other version's instances stay
// registered and idle, ready to be switched back to.
//
// (The directory is ops/rollout/switch; `switch` is a Go keyword, hence
// the package name.)
package switchover

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/sd"
)

// MaxDecisions bounds the decision log kept in the rollout document:
// enough to read a rollout's history, not a log that grows forever.
const MaxDecisions = 100

// Main runs `switch [flags] <service> <version>` and returns the exit
// code: 0 done, 1 failed, 2 bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rollout switch [flags] <service> <version>\n\nMoves 100% of service's traffic to version at once (blue-green).")
		fs.PrintDefaults()
	}
	force := fs.Bool("force", false, "switch even if no instance of version is registered (callers then fall back to the versions that have one)")
	platform := DefinePlatformFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	service, version := fs.Arg(0), fs.Arg(1)
	c, _, err := platform.Connect()
	if err != nil {
		fmt.Fprintln(stderr, "switch:", err)
		return 1
	}
	defer c.Close()
	r, err := Switch(ctx, c, service, version, Options{Force: *force, Timeout: platform.Timeout()})
	if err != nil {
		fmt.Fprintln(stderr, "switch:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: 100%% of traffic to %s (step %d); callers apply it within a second\n", service, version, r.Step)
	return 0
}

// Options tune Switch.
type Options struct {
	// Force switches to a version no registered instance has.
	Force bool
	// Timeout bounds each registry call (default 5 s).
	Timeout time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Switch gives version all of service's traffic and returns the rollout
// written. A canary in progress is ended by it (its controller sees the
// change and stops).
func Switch(ctx context.Context, c *clientv3.Client, service, version string, o Options) (sd.Rollout, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if strings.TrimSpace(version) == "" {
		return sd.Rollout{}, errs.Invalid(errs.FieldViolation{Field: "version", Message: "must not be empty"})
	}
	if !o.Force {
		live, err := LiveVersions(ctx, c, service, o.Timeout)
		if err != nil {
			return sd.Rollout{}, err
		}
		if live[version] == 0 {
			return sd.Rollout{}, errs.Newf(errs.FailedPrecondition, "NO_INSTANCES",
				"no instance of %s %s is registered (live versions: %s); start one first, or pass -force", service, version, describe(live))
		}
	}
	return Update(ctx, c, service, o.Timeout, func(r sd.Rollout, found bool) (sd.Rollout, error) {
		from := "all instances"
		if found {
			from = describeWeights(r.Weights)
		}
		r.Service, r.Weights, r.Stable, r.Canary = service, map[string]int{version: 100}, version, ""
		r.Step++
		r.State = sd.StateSwitched
		r.UpdatedAt = o.Now().UTC()
		r.Decisions = AppendDecision(r.Decisions, sd.Decision{
			At: r.UpdatedAt, Step: r.Step, Share: 100, Action: "switch", Reason: "switched to " + version + " from " + from,
		})
		return r, nil
	})
}

// Update applies change to service's rollout with compare-and-swap,
// reading again and re-applying on a conflict (another tool wrote in
// between), a few times.
func Update(ctx context.Context, c *clientv3.Client, service string, timeout time.Duration,
	change func(r sd.Rollout, found bool) (sd.Rollout, error)) (sd.Rollout, error) {
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		r, rev, found, err := sd.GetRollout(rctx, c, service)
		cancel()
		if err != nil && errs.KindOf(err) != errs.InvalidArgument {
			return sd.Rollout{}, err
		}
		if err != nil {
			found = false // an invalid document is replaced, not built upon
			r = sd.Rollout{}
		}
		next, err := change(r, found)
		if err != nil {
			return sd.Rollout{}, err
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err = sd.PutRollout(wctx, c, next, rev)
		cancel()
		if err == nil {
			return next, nil
		}
		if errs.ReasonOf(err) != sd.ReasonRolloutConflict || attempt >= 4 {
			return sd.Rollout{}, err
		}
	}
}

// AppendDecision appends d to log, keeping the last MaxDecisions.
func AppendDecision(log []sd.Decision, d sd.Decision) []sd.Decision {
	log = append(log, d)
	if len(log) > MaxDecisions {
		log = append([]sd.Decision(nil), log[len(log)-MaxDecisions:]...)
	}
	return log
}

// LiveVersions counts service's registered instances by version.
func LiveVersions(ctx context.Context, c *clientv3.Client, service string, timeout time.Duration) (map[string]int, error) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	instances, err := sd.List(lctx, c, service)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, in := range instances {
		out[in.Version]++
	}
	return out, nil
}

func describe(live map[string]int) string {
	if len(live) == 0 {
		return "none"
	}
	var parts []string
	for v, n := range live {
		parts = append(parts, fmt.Sprintf("%s×%d", v, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func describeWeights(w map[string]int) string {
	r := sd.Rollout{Weights: w}
	var parts []string
	for _, v := range r.Versions() {
		parts = append(parts, fmt.Sprintf("%s=%d%%", v, w[v]))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ",")
}
