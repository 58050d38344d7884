package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/saga"
)

// claimCounter counts the claims an engine makes.
type claimCounter struct {
	*saga.MemStore
	claims int
}

func (c *claimCounter) Claim(ctx context.Context, id, owner string, now, until time.Time) (saga.State, error) {
	c.claims++
	return c.MemStore.Claim(ctx, id, owner, now, until)
}

func countingEngine(t *testing.T, w *world, store saga.Store, owner string, d *saga.Definition) *saga.Engine {
	t.Helper()
	e, err := saga.New(saga.Config{Store: store, Definitions: []*saga.Definition{d}, Owner: owner, LeaseTTL: ttl, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A saga its creator persisted with its own fresh lease is driven without
// a claim; any other lease state is claimed, as before.
func TestRunSkipsTheClaimOfALeaseItHoldsFresh(t *testing.T) {
	w := newWorld(t)
	d := def(w.step("a", nil), w.step("b", nil))
	store := &claimCounter{MemStore: w.store}
	create := func(id, owner string, expiry time.Time) {
		st := saga.NewState(d, id, json.RawMessage(`{}`), w.clock.Now())
		st.LeaseOwner, st.LeaseExpiry = owner, expiry
		if err := w.store.Create(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	now := w.clock.Now()
	create("own-fresh", "e1", now.Add(ttl))
	create("own-old", "e1", now.Add(ttl/4)) // most of it spent: renewed by a claim
	create("other-expired", "e2", now.Add(-time.Second))
	create("free", "", time.Time{})
	e := countingEngine(t, w, store, "e1", d)
	for _, c := range []struct {
		id         string
		wantClaims int
	}{{"own-fresh", 0}, {"own-old", 1}, {"other-expired", 1}, {"free", 1}} {
		store.claims = 0
		st, err := e.Run(context.Background(), c.id)
		if err != nil {
			t.Fatalf("Run(%s): %v", c.id, err)
		}
		wantStatus(t, st, saga.Succeeded)
		if store.claims != c.wantClaims {
			t.Errorf("Run(%s) claimed %d times, want %d", c.id, store.claims, c.wantClaims)
		}
	}
}

// Skipping the claim keeps the fence: when another engine claimed the
// saga after the creator's lease expired, the creator's stale drive
// cannot save.
func TestRunWithoutClaimIsStillFenced(t *testing.T) {
	w := newWorld(t)
	d := def(w.step("a", nil))
	st := saga.NewState(d, "s1", json.RawMessage(`{}`), w.clock.Now())
	st.LeaseOwner, st.LeaseExpiry = "e1", w.clock.Now().Add(ttl)
	if err := w.store.Create(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	stale := &staleLoad{MemStore: w.store, before: func() {
		// Between e1's load and its first save, e2 (whose clock is ahead)
		// finds the lease expired and claims the saga.
		later := w.clock.Now().Add(2 * ttl)
		if _, err := w.store.Claim(context.Background(), "s1", "e2", later, later.Add(ttl)); err != nil {
			t.Errorf("e2's claim: %v", err)
		}
	}}
	_, err := countingEngine(t, w, stale, "e1", d).Run(context.Background(), "s1")
	if !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("Run = %v, want ErrLeaseLost: a drive whose lease was taken over must not save", err)
	}
	if n := w.count(w.calls, "do:a"); n != 0 {
		t.Fatalf("the stale drive ran step a %d times", n)
	}
	if got := w.load("s1"); got.LeaseOwner != "e2" || got.Steps[0].Status != saga.StepPending {
		t.Fatalf("the stale drive changed the saga: %+v", got)
	}
}

// staleLoad runs before once, right after the first Load.
type staleLoad struct {
	*saga.MemStore
	before func()
	done   bool
}

func (s *staleLoad) Load(ctx context.Context, id string) (saga.State, error) {
	st, err := s.MemStore.Load(ctx, id)
	if !s.done {
		s.done = true
		s.before()
	}
	return st, err
}
