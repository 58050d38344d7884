package health

import (
	"context"
	"time"

	"github.com/go-kit/log/level"
)

// DefaultMonitorInterval is how often Monitor runs the checks when given
// no interval: often enough that a lost database takes a gRPC instance out
// of rotation within a few seconds, rarely enough that the probes cost
// nothing measurable.
const DefaultMonitorInterval = 2 * time.Second

// Monitor runs the checks now and then every interval (DefaultMonitorInterval
// when interval <= 0), each round bounded by the same timeout as a
// /health/ready probe, and publishes the outcome to SubscribeServing
// listeners: the verdict turns false when a check fails and true again
// once all pass, as long as the process is declared ready. With a logger
// (WithLogger), a check that starts failing is logged with its cause, and
// again when it recovers; a check that keeps failing is not logged again.
//
// It blocks until ctx ends and then returns nil, so it fits
// kit/lifecycle's App.Jobs. A round cut short by ctx's end is discarded,
// since its failures say nothing about the dependencies. Run one Monitor
// per Readiness.
func (r *Readiness) Monitor(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultMonitorInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	failing := map[string]bool{}
	for {
		if !r.monitorRound(ctx, failing) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// CheckOnce runs one round of the checks now and publishes its verdict,
// as a Monitor round does. kit/boot calls it before declaring the process
// ready, so gRPC health never says SERVING while a check is already
// failing at start-up.
func (r *Readiness) CheckOnce(ctx context.Context) {
	r.monitorRound(ctx, map[string]bool{})
}

// monitorRound runs the checks once and publishes their verdict. failing
// holds the names of the checks that failed last round, for logging
// transitions only. It reports false when ctx ended during the round.
func (r *Readiness) monitorRound(ctx context.Context, failing map[string]bool) bool {
	roundCtx, cancel := context.WithTimeout(ctx, CheckTimeout)
	results := r.runChecks(roundCtx)
	cancel()
	if ctx.Err() != nil {
		return false
	}
	ok := true
	for _, res := range results {
		switch {
		case res.err != nil:
			ok = false
			if !failing[res.name] {
				failing[res.name] = true
				_ = level.Warn(r.logger).Log("msg", "readiness check failing", "check", res.name, "err", res.err)
			}
		case failing[res.name]:
			delete(failing, res.name)
			_ = level.Info(r.logger).Log("msg", "readiness check recovered", "check", res.name)
		}
	}
	r.update(func() { r.checksOK = ok })
	return true
}
