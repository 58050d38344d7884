package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/payments/client"
)

// Tests of the charge's crash windows inside one process: a failed write
// of the outcome after the processor approved, then a retry, a lookup, a
// refund or the recovery job. crash_process_test.go kills a real process
// at the same point.

// faultyStore loses the write numbered failWrite (1-based) among its
// WriteCharge calls, as a failed COMMIT does: nothing is written and the
// caller gets a database error.
type faultyStore struct {
	Store
	failWrite atomic.Int32
	writes    atomic.Int32
}

var errCommitLost = errs.Wrap(errs.Unavailable, errs.ReasonUnavailable,
	errors.New("pg: commit: read tcp: connection reset by peer"), "database unavailable")

func (s *faultyStore) WriteCharge(ctx context.Context, key string, decide func(*Payment) (*Change, error)) (Payment, error) {
	if s.writes.Add(1) == s.failWrite.Load() {
		return Payment{}, errCommitLost
	}
	return s.Store.WriteCharge(ctx, key, decide)
}

// witnessProcessor records, at each Charge, what payments had committed
// for the key: the attempt must be on record before the card is touched.
type witnessProcessor struct {
	*countingProcessor
	store Store
	seen  atomic.Value // Status, or "none"
}

func (w *witnessProcessor) Charge(ctx context.Context, key string, card Card, amount int64, currency string) (Decision, error) {
	var seen Status = "none"
	if p, err := w.store.ChargeByKey(ctx, key); err == nil {
		seen = p.Status
	}
	w.seen.Store(seen)
	return w.countingProcessor.Charge(ctx, key, card, amount, currency)
}

type crashFixture struct {
	svc   *service
	store *faultyStore
	inner Store
	proc  *witnessProcessor
	clock *kittest.Clock
}

func newCrashFixture(t *testing.T, inner Store) *crashFixture {
	t.Helper()
	sim := NewSimulatedProcessor()
	store := &faultyStore{Store: inner}
	proc := &witnessProcessor{countingProcessor: &countingProcessor{Processor: sim, sim: sim}, store: inner}
	clock := kittest.NewClock(testNow)
	return &crashFixture{
		svc:   NewService(store, nil, Options{Processor: proc, Now: clock.Now, ProcessorTimeout: time.Second, RecoverAfter: time.Minute}),
		store: store, inner: inner, proc: proc, clock: clock,
	}
}

// loseOutcome charges req with the write of the processor's answer lost:
// the card is charged, and payments holds only the PENDING attempt.
func (f *crashFixture) loseOutcome(t *testing.T, req ChargeRequest) Payment {
	t.Helper()
	f.store.writes.Store(0)
	f.store.failWrite.Store(2) // 1: the attempt, 2: the outcome
	defer f.store.failWrite.Store(0)
	_, err := f.svc.Charge(context.Background(), req)
	if !errors.Is(err, errCommitLost) {
		t.Fatalf("Charge with the outcome's COMMIT failing = %v, want the database error", err)
	}
	if seen := f.proc.seen.Load(); seen != StatusPending {
		t.Fatalf("the processor was called while payments had %v on record, want the committed PENDING attempt", seen)
	}
	p, err := f.inner.ChargeByKey(context.Background(), req.IdempotencyKey)
	if err != nil || p.Status != StatusPending {
		t.Fatalf("after the lost outcome: %+v, %v; want the PENDING attempt", p, err)
	}
	if n := f.proc.approved(t); n != 1 {
		t.Fatalf("processor charged %d times, want 1", n)
	}
	return p
}

func (f *crashFixture) wantCapturedOnce(t *testing.T, p Payment) {
	t.Helper()
	got, err := f.inner.Payment(context.Background(), p.ID)
	if err != nil || got.Status != StatusCaptured {
		t.Fatalf("payment %+v, %v; want CAPTURED", got, err)
	}
	if n := f.proc.approved(t); n != 1 {
		t.Fatalf("processor charged %d times, want exactly 1", n)
	}
	evs, _ := f.inner.Events(context.Background(), p.ID)
	var types []EventType
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if fmt.Sprint(types) != "[ATTEMPTED CHARGED]" {
		t.Fatalf("events %v, want [ATTEMPTED CHARGED]", types)
	}
}

// TestChargeCommitFailureThenRetry is crash window (a): the processor
// approved, the COMMIT of the outcome failed, the caller retries with the
// same key. One processor charge, one CAPTURED payment.
func TestChargeCommitFailureThenRetry(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newCrashFixture(t, sf.new(t))
			req := chargeReq(TestCardApproved)
			pending := f.loseOutcome(t, req)
			p, err := f.svc.Charge(context.Background(), req)
			if err != nil || p.ID != pending.ID || p.Status != StatusCaptured {
				t.Fatalf("retry = %+v, %v; want payment %s CAPTURED", p, err, pending.ID)
			}
			f.wantCapturedOnce(t, p)
		})
	}
}

// TestChargeCommitFailureThenRecovery: the same window settled with no
// retry, by the recovery job once the attempt is old enough.
func TestChargeCommitFailureThenRecovery(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newCrashFixture(t, sf.new(t))
			pending := f.loseOutcome(t, chargeReq(TestCardApproved))
			ctx := context.Background()
			// Too young: it may still be in flight, so recovery leaves it.
			if n, err := f.svc.RecoverPending(ctx); n != 0 || err != nil {
				t.Fatalf("RecoverPending (young) = %d, %v; want nothing settled", n, err)
			}
			f.clock.Advance(f.svc.recoverAfter + time.Second)
			if n, err := f.svc.RecoverPending(ctx); n != 1 || err != nil {
				t.Fatalf("RecoverPending = %d, %v; want 1 settled", n, err)
			}
			f.wantCapturedOnce(t, pending)
			if n, err := f.svc.RecoverPending(ctx); n != 0 || err != nil {
				t.Fatalf("RecoverPending again = %d, %v; want nothing left", n, err)
			}
		})
	}
}

// TestChargeCommitFailureThenLookup: GetChargeByKey settles the PENDING
// attempt at once, young or not, when the processor knows the answer.
func TestChargeCommitFailureThenLookup(t *testing.T) {
	f := newCrashFixture(t, newMemoryStore())
	req := chargeReq(TestCardDeclined)
	f.store.failWrite.Store(2)
	_, err := f.svc.Charge(context.Background(), req)
	if !errors.Is(err, errCommitLost) {
		t.Fatalf("Charge = %v, want the lost commit", err)
	}
	f.store.failWrite.Store(0)
	p, err := f.svc.GetChargeByKey(context.Background(), req.IdempotencyKey)
	if err != nil || p.Status != StatusDeclined || p.DeclineCode != CodeCardDeclined {
		t.Fatalf("GetChargeByKey = %+v, %v; want the decline the processor made", p, err)
	}
	// The repeat reports the decline without asking the processor again.
	calls := f.proc.calls.Load()
	_, err = f.svc.Charge(context.Background(), req)
	kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonCardDeclined)
	if f.proc.calls.Load() != calls {
		t.Fatal("a settled decline asked the processor again")
	}
}

// TestPostgresRealCommitFailure makes COMMIT itself fail in Postgres (a
// deferred constraint trigger that refuses CAPTURED rows at commit), so
// the failure takes the real path through kit/pg; then the retry.
func TestPostgresRealCommitFailure(t *testing.T) {
	pgStore := openTestPostgres(t)
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE FUNCTION test_refuse_capture() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.status = 'CAPTURED' THEN
				RAISE EXCEPTION 'injected commit failure' USING ERRCODE = 'connection_failure';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE CONSTRAINT TRIGGER test_refuse_capture AFTER UPDATE ON payments
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_capture()`,
	} {
		if _, err := pgStore.db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	f := newCrashFixture(t, pgStore)
	req := chargeReq(TestCardApproved)
	_, err := f.svc.Charge(ctx, req)
	kittest.WantErr(t, err, errs.Unavailable, errs.ReasonUnavailable)
	pending, err := pgStore.ChargeByKey(ctx, req.IdempotencyKey)
	if err != nil || pending.Status != StatusPending || f.proc.approved(t) != 1 {
		t.Fatalf("after the failed COMMIT: %+v, %v, %d processor charges; want PENDING and 1", pending, err, f.proc.approved(t))
	}
	if _, err := pgStore.db.ExecContext(ctx, `DROP TRIGGER test_refuse_capture ON payments`); err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Charge(ctx, req)
	if err != nil || p.ID != pending.ID || p.Status != StatusCaptured {
		t.Fatalf("retry = %+v, %v; want payment %s CAPTURED", p, err, pending.ID)
	}
	f.wantCapturedOnce(t, p)
}

// TestAbandonedAttemptFailsThenRetries: an attempt the processor never
// saw (the process died before the call) is recorded FAILED once it is
// older than the bound, and a retry with the same key then charges once.
func TestAbandonedAttemptFailsThenRetries(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newCrashFixture(t, sf.new(t))
			ctx := context.Background()
			req := chargeReq(TestCardApproved)
			// The attempt is recorded, then the process "dies": the processor
			// is never called.
			begun, call, err := f.svc.beginCharge(ctx, req)
			if err != nil || !call || begun.Status != StatusPending {
				t.Fatalf("beginCharge = %+v, %v, %v", begun, call, err)
			}
			// Young: a lookup leaves it PENDING (it may be in flight), and a
			// refund by key must not call it nothing-to-refund.
			if p, err := f.svc.GetChargeByKey(ctx, req.IdempotencyKey); err != nil || p.Status != StatusPending {
				t.Fatalf("GetChargeByKey (young) = %+v, %v; want PENDING", p, err)
			}
			_, err = f.svc.Refund(ctx, RefundRequest{ChargeKey: req.IdempotencyKey, IdempotencyKey: "r1"})
			kittest.WantErr(t, err, errs.Unavailable, client.ReasonChargePending)

			f.clock.Advance(f.svc.recoverAfter + time.Second)
			if n, err := f.svc.RecoverPending(ctx); n != 1 || err != nil {
				t.Fatalf("RecoverPending = %d, %v; want 1", n, err)
			}
			p, _ := f.inner.Payment(ctx, begun.ID)
			if p.Status != StatusFailed || f.proc.approved(t) != 0 {
				t.Fatalf("abandoned attempt %+v with %d processor charges; want FAILED and none", p, f.proc.approved(t))
			}
			p, err = f.svc.Charge(ctx, req)
			if err != nil || p.ID != begun.ID || p.Status != StatusCaptured || f.proc.approved(t) != 1 {
				t.Fatalf("retry = %+v, %v (%d processor charges); want payment %s CAPTURED once", p, err, f.proc.approved(t), begun.ID)
			}
		})
	}
}

// TestRecoveryJobRunsAtStartUp: the job settles leftovers in its first
// round, without waiting for a tick, and stops with its context.
func TestRecoveryJobRunsAtStartUp(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newCrashFixture(t, newMemoryStore())
	pending := f.loseOutcome(t, chargeReq(TestCardApproved))
	f.clock.Advance(f.svc.recoverAfter + time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.RecoveryJob(time.Hour)(ctx) }()
	kittest.WaitFor(t, 5*time.Second, "the recovery job's first round", func() bool {
		p, _ := f.inner.Payment(context.Background(), pending.ID)
		return p.Status == StatusCaptured
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RecoveryJob returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RecoveryJob did not stop with its context")
	}
	f.wantCapturedOnce(t, pending)
}

// hangingProcessor never answers until its caller gives up.
type hangingProcessor struct{ *SimulatedProcessor }

func (hangingProcessor) Charge(ctx context.Context, _ string, _ Card, _ int64, _ string) (Decision, error) {
	<-ctx.Done()
	return Decision{}, ctx.Err()
}

// TestProcessorCallIsBounded: a processor that hangs costs a charge
// ProcessorTimeout, not the caller's whole deadline, and leaves the
// attempt PENDING for a retry.
func TestProcessorCallIsBounded(t *testing.T) {
	store := newMemoryStore()
	svc := NewService(store, nil, Options{
		Processor: hangingProcessor{NewSimulatedProcessor()}, Now: func() time.Time { return testNow },
		ProcessorTimeout: 50 * time.Millisecond,
	})
	req := chargeReq(TestCardApproved)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := svc.Charge(ctx, req)
	kittest.WantErr(t, err, errs.Unavailable, client.ReasonProcessingError)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Charge took %v with a 50ms processor timeout", took)
	}
	if p, _ := store.ChargeByKey(ctx, req.IdempotencyKey); p.Status != StatusPending {
		t.Fatalf("payment %+v, want PENDING", p)
	}
}
