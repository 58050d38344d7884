package saga_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/kit/tracing"
)

// tracedEngine is w.engine with a tracer and an observer that keeps the
// events and the trace id each was told in.
func (w *world) tracedEngine(owner string, tracer *zipkin.Tracer, events *eventLog, defs ...*saga.Definition) *saga.Engine {
	w.t.Helper()
	e, err := saga.New(saga.Config{Store: w.store, Definitions: defs, Owner: owner, LeaseTTL: ttl,
		Now: w.clock.Now, Tracer: tracer,
		Sleep:   func(ctx context.Context, d time.Duration) error { w.clock.Advance(d); return ctx.Err() },
		Observe: events.add})
	if err != nil {
		w.t.Fatal(err)
	}
	return e
}

type eventLog struct {
	mu     sync.Mutex
	events []string
	traces map[string]bool
}

func (l *eventLog) add(ctx context.Context, ev saga.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := string(ev.Kind)
	if ev.Step != "" {
		s += ":" + ev.Step
	}
	l.events = append(l.events, s)
	if l.traces == nil {
		l.traces = map[string]bool{}
	}
	l.traces[tracing.TraceID(ctx)] = true
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// startTraced persists a new saga whose creator ran in a sampled request
// span, as orders' PlaceOrder does, and returns that span's context.
func (w *world) startTraced(tracer *zipkin.Tracer, d *saga.Definition, id string, sampled bool) model.SpanContext {
	w.t.Helper()
	opts := []zipkin.SpanOption{}
	if !sampled {
		no := false
		opts = append(opts, zipkin.Parent(model.SpanContext{Sampled: &no}))
	}
	req := tracer.StartSpan("createorder", opts...)
	req.Finish()
	st := saga.NewState(d, id, json.RawMessage(`{}`), w.clock.Now())
	st.Trace, st.RequestID = tracing.FormatTraceparent(req.Context()), "req-"+id
	if err := w.store.Create(context.Background(), st); err != nil {
		w.t.Fatal(err)
	}
	return req.Context()
}

// spanTree indexes recorded spans by name (names are unique in these
// tests) and checks they all belong to one trace.
func spanTree(t *testing.T, spans []model.SpanModel, trace model.TraceID) map[string]model.SpanModel {
	t.Helper()
	byName := map[string]model.SpanModel{}
	for _, s := range spans {
		if s.TraceID != trace {
			t.Errorf("span %q is in trace %s, want %s", s.Name, s.TraceID, trace)
		}
		if _, dup := byName[s.Name]; dup {
			t.Errorf("two spans named %q", s.Name)
		}
		byName[s.Name] = s
	}
	return byName
}

func wantChild(t *testing.T, spans map[string]model.SpanModel, child string, parent model.ID) model.SpanModel {
	t.Helper()
	s, ok := spans[child]
	if !ok {
		t.Fatalf("no span %q among %v", child, names(spans))
	}
	if s.ParentID == nil || *s.ParentID != parent {
		t.Errorf("span %q has parent %v, want %s", child, s.ParentID, parent)
	}
	return s
}

func names(spans map[string]model.SpanModel) []string {
	var out []string
	for n := range spans {
		out = append(out, n)
	}
	return out
}

// The drive and each step are spans under the request that created the
// saga, a failed step and its compensations included, with their
// outcomes; a step's own calls are children of the step's span and carry
// the creator's request id.
func TestDriveAndStepsAreSpansOfTheCreatorsTrace(t *testing.T) {
	w := newWorld(t)
	tracer, rec := kittest.NewTracer(t, "orders")
	a := w.step("a", nil)
	doA := a.Do
	a.Do = func(ctx context.Context, c *saga.Call) error {
		if id := logx.RequestID(ctx); id != "req-s1" {
			t.Errorf("step a runs under request id %q, want the creator's req-s1", id)
		}
		sp, _ := tracer.StartSpanFromContext(ctx, "users.validateuser")
		sp.Finish()
		return doA(ctx, c)
	}
	d := def(a, w.step("b", always(errDeclined)))
	req := w.startTraced(tracer, d, "s1", true)
	var events eventLog
	st, err := w.tracedEngine("e1", tracer, &events, d).Run(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, saga.Compensated)

	spans := spanTree(t, rec.Spans(), req.TraceID)
	drive := wantChild(t, spans, "saga test", req.ID)
	if drive.Tags[saga.TagSagaID] != "s1" || drive.Tags[saga.TagStatus] != string(saga.Compensated) || drive.Tags[saga.TagResumed] != "" {
		t.Errorf("drive span tags %v", drive.Tags)
	}
	stepA := wantChild(t, spans, "saga step a", drive.ID)
	wantChild(t, spans, "users.validateuser", stepA.ID)
	stepB := wantChild(t, spans, "saga step b", drive.ID)
	undoA := wantChild(t, spans, "saga compensate a", drive.ID)
	for span, want := range map[*model.SpanModel]map[string]string{
		&stepA: {saga.TagOutcome: saga.OutcomeDone, saga.TagAttempts: "1"},
		// A declined card is an answer, not a fault: no "error" tag.
		&stepB: {saga.TagOutcome: saga.OutcomeFailed, saga.TagErrorReason: "CARD_DECLINED", saga.TagErrorKind: "FailedPrecondition", "error": ""},
		&undoA: {saga.TagOutcome: saga.OutcomeCompensated},
	} {
		for k, v := range want {
			if span.Tags[k] != v {
				t.Errorf("span %q: tag %s = %q, want %q (tags %v)", span.Name, k, span.Tags[k], v, span.Tags)
			}
		}
	}
	if _, undone := spans["saga compensate b"]; !undone {
		t.Error("the failed step b was not compensated in a span of its own")
	}

	want := "step_started:a step_done:a step_started:b step_failed:b compensation_started:b compensated:b " +
		"compensation_started:a compensated:a finished"
	if got := strings.Join(events.list(), " "); got != want {
		t.Errorf("events\n%s\nwant\n%s", got, want)
	}
	if len(events.traces) != 1 || !events.traces[req.TraceID.String()] {
		t.Errorf("events told in traces %v, want only the creator's %s", events.traces, req.TraceID)
	}
}

// A saga resumed by another instance, after the first lost it half-way,
// continues the creator's trace: a second drive span under the same
// parent, marked resumed.
func TestResumedSagaContinuesTheTrace(t *testing.T) {
	w := newWorld(t)
	tracer, rec := kittest.NewTracer(t, "orders")
	ctx, stop := context.WithCancel(context.Background())
	b := w.step("b", nil)
	b.Do = func(context.Context, *saga.Call) error {
		stop() // the first instance goes away mid-step
		return errUnavailable
	}
	d := def(w.step("a", nil), b)
	req := w.startTraced(tracer, d, "s1", true)
	var events eventLog
	if _, err := w.tracedEngine("e1", tracer, &events, d).Run(ctx, "s1"); err == nil {
		t.Fatal("the first drive did not stop")
	}
	w.clock.Advance(2 * ttl)
	d2 := def(w.step("a", nil), w.step("b", nil))
	st, err := w.tracedEngine("e2", tracer, &events, d2).Run(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, saga.Succeeded)

	var drives []model.SpanModel
	stepB := map[string]string{}
	for _, s := range rec.Spans() {
		if s.TraceID != req.TraceID {
			t.Errorf("span %q in trace %s, want the creator's %s", s.Name, s.TraceID, req.TraceID)
		}
		switch s.Name {
		case "saga test":
			drives = append(drives, s)
		case "saga step b":
			stepB[s.Tags[saga.TagOutcome]] = s.Tags[saga.TagAttempts]
		}
	}
	if len(drives) != 2 {
		t.Fatalf("%d drive spans, want 2", len(drives))
	}
	for i, dr := range drives {
		if dr.ParentID == nil || *dr.ParentID != req.ID {
			t.Errorf("drive %d has parent %v, want the creator's span %s", i, dr.ParentID, req.ID)
		}
	}
	if drives[0].Tags[saga.TagDriveEnd] != "stopped" || drives[1].Tags[saga.TagResumed] != "true" {
		t.Errorf("first drive tags %v, second %v", drives[0].Tags, drives[1].Tags)
	}
	if fmt.Sprint(stepB) != fmt.Sprint(map[string]string{saga.OutcomeStopped: "1", saga.OutcomeDone: "1"}) {
		t.Errorf("step b spans by outcome (attempts): %v", stepB)
	}
}

// A trace the edge did not sample stays unsampled in the saga: nothing is
// recorded, and the steps' calls carry the trace on, still unsampled.
func TestUnsampledTraceStaysUnsampled(t *testing.T) {
	w := newWorld(t)
	tracer, rec := kittest.NewTracer(t, "orders")
	var seen model.SpanContext
	a := w.step("a", nil)
	doA := a.Do
	a.Do = func(ctx context.Context, c *saga.Call) error {
		seen = zipkin.SpanFromContext(ctx).Context()
		return doA(ctx, c)
	}
	d := def(a)
	req := w.startTraced(tracer, d, "s1", false)
	if _, err := w.tracedEngine("e1", tracer, &eventLog{}, d).Run(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Spans()); n != 0 {
		t.Errorf("%d spans recorded for an unsampled trace: %v", n, rec.Spans())
	}
	if seen.TraceID != req.TraceID || seen.Sampled == nil || *seen.Sampled {
		t.Errorf("the step ran in %+v, want trace %s, not sampled", seen, req.TraceID)
	}
}

// A saga created without a trace gets one from its first drive, persisted,
// so that a later drive continues it.
func TestSagaWithoutTraceStartsOneAndKeepsIt(t *testing.T) {
	w := newWorld(t)
	tracer, rec := kittest.NewTracer(t, "orders")
	d := def(w.step("a", nil))
	w.start(d, "s1")
	if _, err := w.tracedEngine("e1", tracer, &eventLog{}, d).Run(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	sc, ok := tracing.ParseTraceparent(w.load("s1").Trace)
	if !ok {
		t.Fatalf("persisted trace %q", w.load("s1").Trace)
	}
	for _, s := range rec.Spans() {
		if s.TraceID != sc.TraceID {
			t.Errorf("span %q in trace %s, want the persisted %s", s.Name, s.TraceID, sc.TraceID)
		}
		if s.Name == "saga test" && s.ID != sc.ID {
			t.Errorf("persisted span %s, want the drive's %s", sc.ID, s.ID)
		}
	}
}

// Retries are told to the observer and annotated on the step's span.
func TestRetriesAreObservedAndAnnotated(t *testing.T) {
	w := newWorld(t)
	tracer, rec := kittest.NewTracer(t, "orders")
	d := def(w.step("a", failFirst(1, errUnavailable)))
	w.startTraced(tracer, d, "s1", true)
	var events eventLog
	if _, err := w.tracedEngine("e1", tracer, &events, d).Run(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(events.list(), " "); got != "step_started:a step_retry:a step_done:a finished" {
		t.Errorf("events %s", got)
	}
	for _, s := range rec.Spans() {
		if s.Name != "saga step a" {
			continue
		}
		if s.Tags[saga.TagAttempts] != "2" || len(s.Annotations) != 1 || !strings.Contains(s.Annotations[0].Value, "UNAVAILABLE") {
			t.Errorf("step span tags %v, annotations %v", s.Tags, s.Annotations)
		}
	}
}
