// Package canary is `ops/rollout canary <service> <version>`: it steps a
// new version's share of traffic up (5 → 25 → 50 → 100 % by default),
// judging it at each step against the stable version from the gateways'
// per-version attempt metrics (kitshop_backend_attempts_total and
// kitshop_backend_attempt_duration_seconds, by backend_version), and
// rolls it back by itself when it is worse beyond the thresholds.
//
// Every decision is logged and written to the service's rollout document
// (/kitshop/rollouts/<service>, kit/sd.Rollout) with compare-and-swap, so
// a restarted controller, or a second one, resumes at the stored step
// instead of repeating steps, and never overwrites another's decision.
package canary

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	switchover "github.com/kitshop/kitshop/ops/rollout/switch"
)

// Exit codes of Main besides 0 (promoted) and 2 (bad usage).
const (
	ExitFailed     = 1 // the controller could not do its job
	ExitRolledBack = 3 // it did: the canary was worse and is back to 0%
)

// Main runs `canary [flags] <service> <version>` and returns its exit
// code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("canary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: rollout canary [flags] <service> <version>

Steps version's share of service's traffic up, compares it with the stable
version at each step from the gateways' metrics, and rolls it back when it
is worse beyond the thresholds. Exit 0: promoted; 3: rolled back; 1: error.`)
		fs.PrintDefaults()
	}
	steps := fs.String("steps", "5,25,50,100", "the canary's shares in percent, rising")
	stepDuration := fs.Duration("step-duration", time.Minute, "how long each step is observed before it may advance")
	maxWait := fs.Duration("max-wait", 2*time.Minute, "how much longer a step waits for enough canary traffic before rolling back")
	poll := fs.Duration("poll", 2*time.Second, "how often the gateways' metrics are read and the canary judged")
	errorMargin := fs.Float64("error-margin", 0.01, "how far (absolute, 0.01 = 1 point) the canary's error rate may exceed the stable one's")
	p99Factor := fs.Float64("p99-factor", 1.5, "the canary's p99 may reach the stable p99 times this, plus -p99-slack")
	p99Slack := fs.Duration("p99-slack", 50*time.Millisecond, "added to the allowed p99")
	minRequests := fs.Float64("min-requests", 100, "canary attempts a step needs before it is judged")
	stable := fs.String("stable", "", "the version to compare with (default: the rollout's stable version, or the only other live one)")
	restart := fs.Bool("restart", false, "start again a canary of this version that was rolled back")
	gateways := fs.String("gateway-service", "gateway", "registered service whose /metrics are read")
	platform := switchover.DefinePlatformFlags(fs)
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
	shares, err := parseSteps(*steps)
	if err != nil {
		fmt.Fprintln(stderr, "canary: -steps:", err)
		return 2
	}
	etcd, client, err := platform.Connect()
	if err != nil {
		fmt.Fprintln(stderr, "canary:", err)
		return ExitFailed
	}
	defer etcd.Close()
	cfg := Config{
		Service: fs.Arg(0), Version: fs.Arg(1), Stable: *stable, Steps: shares,
		StepDuration: *stepDuration, MaxWait: *maxWait, Poll: *poll, Restart: *restart,
		Thresholds: Thresholds{ErrorMargin: *errorMargin, P99Factor: *p99Factor, P99Slack: *p99Slack, MinRequests: *minRequests},
		Gateways:   *gateways, Scheme: platform.Scheme(), Timeout: platform.Timeout(),
		Log: func(line string) { fmt.Fprintln(stdout, time.Now().UTC().Format("15:04:05"), line) },
	}
	outcome, r, err := NewController(etcd, client).Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "canary:", err)
		return ExitFailed
	}
	fmt.Fprintf(stdout, "%s %s: %s (step %d, weights %v)\n", cfg.Service, cfg.Version, outcome, r.Step, r.Weights)
	if outcome == RolledBack {
		return ExitRolledBack
	}
	return 0
}

func parseSteps(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q is not a percent", part)
		}
		out = append(out, n)
	}
	return out, nil
}
