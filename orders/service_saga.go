package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/kit/tracing"
)

// Defaults of Options (see its fields).
const (
	defaultReservationTTL = 15 * time.Minute
	defaultLeaseTTL       = 30 * time.Second
	defaultResumeInterval = 5 * time.Second
	defaultMaxDriving     = 256
	defaultIdempotencyTTL = 24 * time.Hour
	defaultPatience       = 5 * time.Minute
)

// defaultCompensateRetry gives an undo far more patience than the action
// it undoes: running out of it means an operator must step in.
var defaultCompensateRetry = saga.Retry{Attempts: 8, Base: 500 * time.Millisecond, Max: 30 * time.Second, Budget: 2 * time.Minute}

const (
	// resumeBatch is how many claimable sagas one resume round lists.
	resumeBatch = 100
	// purgeInterval is how often expired idempotency keys are deleted.
	purgeInterval = 10 * time.Minute
	// storeTimeout bounds a store call made on the service's behalf after
	// the caller's context may have ended (recording an answer).
	storeTimeout = 5 * time.Second
)

// service implements Service. Business rules live in the service_*.go
// files: placing (service_place.go), the checkout and cancel sagas
// (service_checkout.go, service_cancel.go), driving them
// (service_runner.go), idempotent answers (service_idem.go), reads
// (service_read.go), the cards held in memory (service_cards.go) and the
// saga metrics (service_metrics.go).
type service struct {
	store    Store
	users    Users
	products Products
	payments Payments
	opts     Options
	logger   log.Logger
	now      func() time.Time

	checkout, cancel *saga.Definition
	engine           *saga.Engine
	runner           *runner
	cards            *cardVault
	metrics          *sagaMetrics
	events           eventStream
}

// eventStream is the order event stream's service side (the outbox relay
// and the notification worker, service_events.go): the service wakes the
// relay after each write that changed an order's status, and runs its
// jobs with its own.
type eventStream interface {
	StatusChanged()
	Jobs() []func(context.Context) error
}

var _ Service = (*service)(nil)

// NewService returns the orders service over store and its peers. Jobs
// must run for abandoned sagas to be resumed, idempotency keys purged and
// events relayed; the sagas a request starts are driven at once, in the
// background, until Close (or the end of the Jobs' context).
func NewService(store Store, users Users, products Products, payments Payments, opts Options) (*service, error) {
	if store == nil || users == nil || products == nil || payments == nil {
		return nil, errors.New("orders: NewService needs a store, users, products and payments")
	}
	opts = withDefaults(opts)
	m, err := newSagaMetrics(opts.Metrics)
	if err != nil {
		return nil, err
	}
	s := &service{store: store, users: users, products: products, payments: payments,
		opts: opts, logger: opts.Logger, now: opts.Now, metrics: m}
	s.cards = newCardVault(opts.ReservationTTL, s.now)
	s.events = newEventStream(store, s.logger, s.now)
	s.checkout = s.checkoutDefinition()
	s.cancel = s.cancelDefinition()
	s.engine, err = saga.New(saga.Config{
		Store:        engineStore{s},
		Definitions:  []*saga.Definition{s.checkout, s.cancel},
		Owner:        opts.Owner,
		LeaseTTL:     opts.LeaseTTL,
		ResumeBatch:  resumeBatch,
		Now:          s.now,
		OnTransition: s.onTransition,
		Observe:      s.observe,
		Tracer:       opts.Tracer,
	})
	if err != nil {
		return nil, fmt.Errorf("orders: saga engine: %w", err)
	}
	s.runner = newRunner(s.engine, opts.MaxDriving, s.logger)
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = defaultReservationTTL
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = defaultLeaseTTL
	}
	if o.ResumeInterval <= 0 {
		o.ResumeInterval = defaultResumeInterval
	}
	if o.MaxDriving <= 0 {
		o.MaxDriving = defaultMaxDriving
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = defaultIdempotencyTTL
	}
	switch {
	case o.Patience == 0:
		o.Patience = defaultPatience
	case o.Patience < 0:
		o.Patience = 0
	}
	if o.CompensateRetry == (saga.Retry{}) {
		o.CompensateRetry = defaultCompensateRetry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Jobs are the background loops main runs beside the servers: resuming
// sagas, purging idempotency keys, the event jobs, and one that stops
// the sagas this instance drives when the jobs are stopped (after the
// servers drained, so no request still waits for one). Each returns when
// ctx ends.
func (s *service) Jobs() []func(context.Context) error {
	jobs := []func(context.Context) error{s.resumeJob, s.purgeJob, s.stopDrivingJob}
	return append(jobs, s.eventJobs()...)
}

// eventJobs are the event stream's jobs: the outbox relay and the
// notification worker.
func (s *service) eventJobs() []func(context.Context) error { return s.events.Jobs() }

// Close stops driving sagas and waits for the drives to end; what they
// left is persisted and resumed by the next instance to claim it. It is
// for callers that do not run Jobs (tests, tools); it is idempotent.
func (s *service) Close() error {
	s.runner.stop()
	return nil
}

func (s *service) stopDrivingJob(ctx context.Context) error {
	<-ctx.Done()
	s.runner.stop()
	return nil
}

// resumeJob drives every unfinished saga whose lease is free or expired:
// a crashed instance's, or one whose creator could not start it. It runs
// a round at once (start-up is when a crash's leftovers are found) and
// then every ResumeInterval. Rather than engine.Resume, which drives one
// saga after another, it hands each to the runner, so that resumed sagas
// run concurrently within MaxDriving like new ones.
func (s *service) resumeJob(ctx context.Context) error {
	t := time.NewTicker(s.opts.ResumeInterval)
	defer t.Stop()
	for {
		if n, err := s.resumeRound(ctx); err != nil && ctx.Err() == nil {
			_ = level.Warn(s.logger).Log("msg", "saga resume round failed", "started", n, "err", err)
		} else if n > 0 {
			_ = level.Info(s.logger).Log("msg", "resuming unfinished sagas", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// resumeRound starts driving up to resumeBatch claimable sagas, waiting
// for free driving slots while ctx lasts. It returns how many it started.
func (s *service) resumeRound(ctx context.Context) (int, error) {
	ids, err := s.store.ListClaimableSagas(ctx, s.now(), resumeBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if s.runner.start(ctx, id) == nil {
			break // ctx ended or the runner stopped: the next round goes on
		}
		n++
	}
	return n, nil
}

// purgeJob deletes expired idempotency keys at once and then every
// purgeInterval.
func (s *service) purgeJob(ctx context.Context) error {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := s.store.PurgeIdempotent(pctx, s.now())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			_ = level.Warn(s.logger).Log("msg", "idempotency key purge failed", "err", err)
		case n > 0:
			_ = level.Debug(s.logger).Log("msg", "purged expired idempotency keys", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// engineStore is kit/saga's Store over the orders Store: each save carries
// the order change the saga's new state implies (projection), written in
// the same transaction, so that an order and its saga never disagree.
type engineStore struct{ s *service }

func (a engineStore) Load(ctx context.Context, id string) (saga.State, error) {
	return a.s.store.LoadSaga(ctx, id)
}

func (a engineStore) Save(ctx context.Context, st *saga.State) error {
	change, err := a.s.projection(st)
	if err != nil {
		return err
	}
	return a.s.store.SaveSaga(ctx, st, change)
}

func (a engineStore) Claim(ctx context.Context, id, owner string, now, until time.Time) (saga.State, error) {
	return a.s.store.ClaimSaga(ctx, id, owner, now, until)
}

func (a engineStore) Renew(ctx context.Context, id, owner string, until time.Time) error {
	return a.s.store.RenewSaga(ctx, id, owner, until)
}

func (a engineStore) ListClaimable(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return a.s.store.ListClaimableSagas(ctx, now, limit)
}

// projection is what st, about to be saved, changes in its order (nil:
// nothing). See the checkout and cancel definitions for the data each
// saga keeps.
func (s *service) projection(st *saga.State) (*OrderChange, error) {
	switch st.Definition {
	case checkoutName:
		return s.checkoutProjection(st)
	case cancelName:
		return s.cancelProjection(st)
	}
	return nil, fmt.Errorf("orders: saga %s has unknown definition %q", st.ID, st.Definition)
}

// onTransition runs after every saga save, in the driving goroutine.
func (s *service) onTransition(st saga.State) {
	if st.Definition == checkoutName && !s.cardStillNeeded(st) {
		s.cards.drop(st.ID)
	}
	if !st.Status.Final() {
		return
	}
	// Every final saga state changed its order's status (and wrote its
	// event to the outbox in the same transaction).
	s.events.StatusChanged()
	s.metrics.finished(st.Definition, st.Status)
	if st.Status == saga.RequiresAttention {
		_ = level.Error(s.logger).Log("msg", "saga requires attention: a compensation ran out of retries",
			"saga_id", st.ID, "order_id", s.orderOf(st.ID, st.Definition, st.Data), logx.KeyTraceID, traceIDOf(st.Trace),
			"definition", st.Definition, "failure", problemText(st.Failure), "attention", problemText(st.Attention))
	}
}

func problemText(p *saga.Problem) string {
	if p == nil {
		return ""
	}
	return p.Step + ": " + p.Kind + " " + p.Reason
}

// observe logs every saga transition at info (a compensation that gives
// up at error), with the order's id and, from ctx, its trace id: one
// order's saga can be followed in the logs of whichever instances drove
// it, and found in the trace.
func (s *service) observe(ctx context.Context, ev saga.Event) {
	lvl := level.Info
	if ev.Kind == saga.EventCompensationFailed {
		lvl = level.Error
	}
	kv := []any{"msg", transitionMessages[ev.Kind], "saga_id", ev.SagaID, "order_id", s.orderOf(ev.SagaID, ev.Definition, ev.Data),
		"definition", ev.Definition, "saga_status", string(ev.Status)}
	if ev.Step != "" {
		kv = append(kv, "step", ev.Step)
	}
	if ev.Attempt > 0 {
		kv = append(kv, "attempts", ev.Attempt)
	}
	if ev.Kind != saga.EventStepStarted && ev.Kind != saga.EventCompensationStarted {
		kv = append(kv, "elapsed", ev.Elapsed.String())
	}
	if ev.Kind == saga.EventFinished && ev.Failure != nil {
		kv = append(kv, "failure", problemText(ev.Failure))
	}
	if ev.Err != nil {
		// Kind and reason only: the error's message may quote a peer's
		// answer, and its metadata is in the order's failure.
		e := errs.As(ev.Err)
		kv = append(kv, "err_kind", e.Kind.String(), "err_reason", e.Reason)
	}
	_ = lvl(logx.FromContext(ctx, s.logger)).Log(kv...)
	s.measure(ev)
}

// measure records how long a step or a compensation took once it ended
// (kitshop_saga_step_duration_seconds, _compensation_).
func (s *service) measure(ev saga.Event) {
	switch ev.Kind {
	case saga.EventStepDone:
		s.metrics.stepEnded(ev.Definition, ev.Step, false, outcomeOK, ev.Elapsed)
	case saga.EventStepFailed:
		s.metrics.stepEnded(ev.Definition, ev.Step, false, outcomeFailed, ev.Elapsed)
	case saga.EventStepParked:
		s.metrics.stepEnded(ev.Definition, ev.Step, false, outcomeParked, ev.Elapsed)
	case saga.EventCompensated:
		s.metrics.stepEnded(ev.Definition, ev.Step, true, outcomeOK, ev.Elapsed)
	case saga.EventCompensationFailed:
		s.metrics.stepEnded(ev.Definition, ev.Step, true, outcomeFailed, ev.Elapsed)
	}
}

var transitionMessages = map[saga.EventKind]string{
	saga.EventStepStarted:         "saga step started",
	saga.EventStepRetry:           "saga step attempt failed; retrying",
	saga.EventStepDone:            "saga step done",
	saga.EventStepFailed:          "saga step failed; compensating",
	saga.EventStepParked:          "saga step parked while its peer is unreachable",
	saga.EventCompensationStarted: "saga compensation started",
	saga.EventCompensated:         "saga step compensated",
	saga.EventCompensationFailed:  "saga compensation failed; the order requires attention",
	saga.EventFinished:            "saga finished",
}

// orderOf is the order a saga works for: a checkout's id is its order's,
// a cancel saga names its order in its data ("" if that cannot be read).
func (s *service) orderOf(sagaID, definition string, data []byte) string {
	if definition != cancelName {
		return sagaID
	}
	d, err := decodeCancel(data, sagaID)
	if err != nil {
		return ""
	}
	return d.OrderID
}

// traceIDOf is the trace id of a persisted traceparent, as logs spell it,
// or "".
func traceIDOf(traceparent string) string {
	sc, ok := tracing.ParseTraceparent(traceparent)
	if !ok {
		return ""
	}
	return tracing.FormatTraceID(sc.TraceID)
}
