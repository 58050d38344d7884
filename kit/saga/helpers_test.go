package saga_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/saga"
)

// world is a saga's environment in a test: a memory store, a fake clock
// that backoffs advance instead of sleeping, and a fake remote whose
// effects are idempotent by key, as a peer service's are.
type world struct {
	t     *testing.T
	store *saga.MemStore
	clock *kittest.Clock

	mu          sync.Mutex
	applied     map[string]int // effect ("do:<key>", "undo:<key>") -> times applied
	calls       map[string]int // "do:<step>" / "undo:<step>" -> times called
	log         []string       // effects in the order applied
	slept       []time.Duration
	transitions []saga.State
}

var testRetry = saga.Retry{Attempts: 3, Base: 10 * time.Millisecond, Max: 40 * time.Millisecond, Budget: time.Second}

const ttl = 30 * time.Second

func newWorld(t *testing.T) *world {
	kittest.CheckGoroutines(t)
	return &world{t: t, store: saga.NewMemStore(),
		clock:   kittest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
		applied: map[string]int{}, calls: map[string]int{}}
}

func (w *world) engine(owner string, defs ...*saga.Definition) *saga.Engine {
	w.t.Helper()
	e, err := saga.New(saga.Config{Store: w.store, Definitions: defs, Owner: owner, LeaseTTL: ttl,
		Now: w.clock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			w.mu.Lock()
			w.slept = append(w.slept, d)
			w.mu.Unlock()
			w.clock.Advance(d)
			return ctx.Err()
		},
		OnTransition: func(st saga.State) {
			w.mu.Lock()
			w.transitions = append(w.transitions, st)
			w.mu.Unlock()
		}})
	if err != nil {
		w.t.Fatal(err)
	}
	return e
}

func (w *world) start(def *saga.Definition, id string) {
	w.t.Helper()
	if err := w.store.Create(context.Background(), saga.NewState(def, id, json.RawMessage(`{}`), w.clock.Now())); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) load(id string) saga.State {
	w.t.Helper()
	st, err := w.store.Load(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// effect applies op on key once, however often it is asked, and counts the
// call of op on step.
func (w *world) effect(op string, c *saga.Call) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls[op+":"+c.Step]++
	k := op + ":" + c.Key
	if w.applied[k] == 0 {
		w.log = append(w.log, op+":"+c.Step)
	}
	w.applied[k] = 1
}

func (w *world) count(m map[string]int, k string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return m[k]
}

func (w *world) effects() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

// step is a step whose Do applies its effect and then returns fail's
// error for that attempt (fail nil: always succeeds), and whose Compensate
// undoes it.
func (w *world) step(name string, fail func(attempt int) error) saga.Step {
	return saga.Step{Name: name, Retry: testRetry,
		Do: func(ctx context.Context, c *saga.Call) error {
			if fail != nil {
				if err := fail(c.Attempt); err != nil {
					w.mu.Lock()
					w.calls["do:"+name]++
					w.mu.Unlock()
					return err
				}
			}
			w.effect("do", c)
			return nil
		},
		Compensate: func(ctx context.Context, c *saga.Call) error {
			w.effect("undo", c)
			return nil
		}}
}

func def(steps ...saga.Step) *saga.Definition {
	return &saga.Definition{Name: "test", Steps: steps}
}

func wantStatus(t *testing.T, st saga.State, want saga.Status, steps ...saga.StepStatus) {
	t.Helper()
	if st.Status != want {
		t.Fatalf("saga status %s, want %s (state %+v)", st.Status, want, st)
	}
	for i, s := range steps {
		if st.Steps[i].Status != s {
			t.Errorf("step %s is %s, want %s", st.Steps[i].Name, st.Steps[i].Status, s)
		}
	}
}

func wantLog(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("effects %v, want %v", got, want)
	}
}
