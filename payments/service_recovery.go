package main

import (
	"context"
	"time"

	"github.com/go-kit/log/level"
)

const (
	// recoveryBatch is how many PENDING payments one query fetches.
	recoveryBatch = 100
	// recoveryRoundTimeout bounds one recovery round, so a hung processor
	// or database cannot stall the job past its next tick for ever.
	recoveryRoundTimeout = 2 * time.Minute
	// DefaultRecoveryInterval is how often the recovery job looks for
	// abandoned charges after its first round at start-up.
	DefaultRecoveryInterval = 30 * time.Second
)

// RecoverPending settles every charge that has been PENDING for longer
// than recoverAfter: attempts whose process died, or whose outcome could
// not be written, between the processor call and the record. Each is
// settled as a lookup would (see settle): the processor's decision is
// recorded, or FAILED when it has none. It returns how many it settled and
// the last error met; payments it could not settle stay PENDING for the
// next round.
func (s *service) RecoverPending(ctx context.Context) (settled int, err error) {
	var lastErr error
	for {
		batch, err := s.store.Pending(ctx, s.clock().Add(-s.recoverAfter), recoveryBatch)
		if err != nil {
			return settled, err
		}
		progress := 0
		for _, p := range batch {
			q, err := s.settle(ctx, p)
			if err != nil {
				lastErr = err
				_ = level.Warn(s.logger).Log("msg", "recovery could not settle a pending charge", "payment_id", p.ID, "err", err)
				continue
			}
			if q.Status != StatusPending || !q.UpdatedAt.Equal(p.UpdatedAt) {
				progress++
			}
		}
		settled += progress
		// A short batch was the last; a batch with no progress would come
		// back unchanged, so the round ends there and the next tick retries.
		if len(batch) < recoveryBatch || progress == 0 {
			return settled, lastErr
		}
	}
}

// RecoveryJob runs RecoverPending at once (start-up is when a crash's
// leftovers are found) and then every interval, until ctx ends. Failures
// are logged and retried at the next tick, never fatal: the job exists to
// clean up after trouble.
func (s *service) RecoveryJob(interval time.Duration) func(context.Context) error {
	if interval <= 0 {
		interval = DefaultRecoveryInterval
	}
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			rctx, cancel := context.WithTimeout(ctx, recoveryRoundTimeout)
			n, err := s.RecoverPending(rctx)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				_ = level.Warn(s.logger).Log("msg", "charge recovery round failed", "settled", n, "err", err)
			case n > 0:
				_ = level.Info(s.logger).Log("msg", "charge recovery settled abandoned charges", "settled", n)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}
