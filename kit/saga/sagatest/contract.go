// Package sagatest holds the contract every saga.Store must meet, as a
// test suite a store's own tests run against a fresh store.
package sagatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/saga"
)

// Store is a saga.Store that the suite can seed. Create stands for the
// caller's own transaction, which persists a new saga with its row.
type Store interface {
	saga.Store
	Create(ctx context.Context, st saga.State) error
}

// base is a time a database keeps exactly: UTC, whole microseconds.
var base = time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)

var def = &saga.Definition{Name: "contract", Steps: []saga.Step{
	{Name: "first", Do: noop}, {Name: "second", Do: noop},
}}

func noop(context.Context, *saga.Call) error { return nil }

// StoreContract runs the suite; newStore returns an empty store, and is
// called once per subtest.
func StoreContract(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	seed := func(t *testing.T, s Store, id string, updated time.Time) saga.State {
		t.Helper()
		st := saga.NewState(def, id, json.RawMessage(`{"n":1}`), updated)
		if err := s.Create(ctx, st); err != nil {
			t.Fatalf("Create(%s): %v", id, err)
		}
		return load(t, s, id)
	}

	t.Run("LoadMissing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Load(ctx, "missing"); !errors.Is(err, saga.ErrNotFound) {
			t.Fatalf("Load(missing) = %v, want ErrNotFound", err)
		}
		if _, err := s.Claim(ctx, "missing", "a", base, base.Add(time.Minute)); !errors.Is(err, saga.ErrNotFound) {
			t.Fatalf("Claim(missing) = %v, want ErrNotFound", err)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		want := saga.NewState(def, "s1", json.RawMessage(`{"n":1}`), base)
		// The trace and request a saga's drives continue are kept too.
		want.Trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		want.RequestID = "req-1"
		if err := s.Create(ctx, want); err != nil {
			t.Fatal(err)
		}
		got := load(t, s, "s1")
		sameState(t, got, want)
	})

	t.Run("SaveChecksAndBumpsVersion", func(t *testing.T) {
		s := newStore(t)
		st := seed(t, s, "s1", base)
		stale := st.Clone()
		st.Status = saga.Compensating
		st.Steps[0].Status = saga.StepFailed
		st.Steps[0].Attempts = 3
		st.Steps[0].LastErrKind, st.Steps[0].LastErrReason = "FailedPrecondition", "NOPE"
		st.Failure = &saga.Problem{Step: "first", Kind: "FailedPrecondition", Reason: "NOPE"}
		st.Data = json.RawMessage(`{"n":2}`)
		st.UpdatedAt = base.Add(time.Second)
		if err := s.Save(ctx, &st); err != nil {
			t.Fatalf("Save: %v", err)
		}
		if st.Version != stale.Version+1 {
			t.Fatalf("Save left Version %d, want %d", st.Version, stale.Version+1)
		}
		sameState(t, load(t, s, "s1"), st)

		stale.Status = saga.Succeeded
		if err := s.Save(ctx, &stale); !errors.Is(err, saga.ErrConflict) {
			t.Fatalf("stale Save = %v, want ErrConflict", err)
		}
		sameState(t, load(t, s, "s1"), st)
	})

	t.Run("SaveLeavesLease", func(t *testing.T) {
		s := newStore(t)
		seed(t, s, "s1", base)
		st, err := s.Claim(ctx, "s1", "a", base, base.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		st.LeaseOwner, st.LeaseExpiry = "forged", base.Add(time.Hour)
		if err := s.Save(ctx, &st); err != nil {
			t.Fatal(err)
		}
		got := load(t, s, "s1")
		if got.LeaseOwner != "a" || !got.LeaseExpiry.Equal(base.Add(time.Minute)) {
			t.Fatalf("Save changed the lease to %q until %v", got.LeaseOwner, got.LeaseExpiry)
		}
	})

	t.Run("ClaimAndFence", func(t *testing.T) {
		s := newStore(t)
		v0 := seed(t, s, "s1", base).Version
		a, err := s.Claim(ctx, "s1", "a", base, base.Add(time.Minute))
		if err != nil {
			t.Fatalf("Claim free saga: %v", err)
		}
		if a.LeaseOwner != "a" || !a.LeaseExpiry.Equal(base.Add(time.Minute)) || a.Version <= v0 {
			t.Fatalf("Claim returned owner %q until %v version %d (was %d)", a.LeaseOwner, a.LeaseExpiry, a.Version, v0)
		}
		if _, err := s.Claim(ctx, "s1", "b", base.Add(59*time.Second), base.Add(2*time.Minute)); !errors.Is(err, saga.ErrLeaseHeld) {
			t.Fatalf("Claim of a live lease = %v, want ErrLeaseHeld", err)
		}
		if again, err := s.Claim(ctx, "s1", "a", base.Add(time.Second), base.Add(2*time.Minute)); err != nil || again.Version <= a.Version {
			t.Fatalf("re-Claim by the holder = version %d, %v", again.Version, err)
		}
		a = load(t, s, "s1")
		b, err := s.Claim(ctx, "s1", "b", base.Add(2*time.Minute), base.Add(3*time.Minute))
		if err != nil {
			t.Fatalf("Claim of an expired lease: %v", err)
		}
		if b.LeaseOwner != "b" {
			t.Fatalf("takeover left owner %q", b.LeaseOwner)
		}
		// a lost the saga: its next save must fail.
		a.Status = saga.Succeeded
		if err := s.Save(ctx, &a); !errors.Is(err, saga.ErrConflict) {
			t.Fatalf("Save by the previous holder = %v, want ErrConflict", err)
		}
	})

	t.Run("Renew", func(t *testing.T) {
		s := newStore(t)
		seed(t, s, "s1", base)
		a, err := s.Claim(ctx, "s1", "a", base, base.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Renew(ctx, "s1", "a", base.Add(5*time.Minute)); err != nil {
			t.Fatalf("Renew by the holder: %v", err)
		}
		got := load(t, s, "s1")
		if !got.LeaseExpiry.Equal(base.Add(5*time.Minute)) || got.Version != a.Version {
			t.Fatalf("Renew left expiry %v version %d, want %v version %d", got.LeaseExpiry, got.Version, base.Add(5*time.Minute), a.Version)
		}
		if err := s.Renew(ctx, "s1", "b", base.Add(time.Hour)); !errors.Is(err, saga.ErrLeaseHeld) {
			t.Fatalf("Renew by another owner = %v, want ErrLeaseHeld", err)
		}
		// a's saves still go through after a renewal.
		if err := s.Save(ctx, &a); err != nil {
			t.Fatalf("Save after Renew: %v", err)
		}
	})

	t.Run("ListClaimable", func(t *testing.T) {
		s := newStore(t)
		now := base.Add(time.Hour)
		seed(t, s, "free-new", base.Add(3*time.Second))
		seed(t, s, "free-old", base.Add(time.Second))
		seed(t, s, "expired", base.Add(2*time.Second))
		seed(t, s, "live", base)
		comp := seed(t, s, "compensating", base.Add(4*time.Second))
		done := seed(t, s, "done", base)
		attention := seed(t, s, "attention", base)
		claim(t, s, "expired", "a", base, now)
		claim(t, s, "live", "a", base, now.Add(time.Second))
		comp.Status = saga.Compensating
		done.Status = saga.Succeeded
		attention.Status = saga.RequiresAttention
		for _, st := range []*saga.State{&comp, &done, &attention} {
			if err := s.Save(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListClaimable(ctx, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"free-old", "expired", "free-new", "compensating"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ListClaimable = %q, want %q", got, want)
		}
		if got, _ := s.ListClaimable(ctx, now, 2); !reflect.DeepEqual(got, want[:2]) {
			t.Fatalf("ListClaimable limit 2 = %q, want %q", got, want[:2])
		}
	})

	t.Run("ConcurrentClaimsOneWinner", func(t *testing.T) {
		s := newStore(t)
		seed(t, s, "s1", base)
		const n = 8
		var wg sync.WaitGroup
		errc := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Claim(ctx, "s1", fmt.Sprintf("owner-%d", i), base, base.Add(time.Minute))
				errc <- err
			}()
		}
		wg.Wait()
		close(errc)
		won := 0
		for err := range errc {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, saga.ErrLeaseHeld):
				t.Errorf("Claim: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d concurrent claims won, want 1", won)
		}
	})
}

func load(t *testing.T, s Store, id string) saga.State {
	t.Helper()
	st, err := s.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Load(%s): %v", id, err)
	}
	return st
}

func claim(t *testing.T, s Store, id, owner string, now, until time.Time) {
	t.Helper()
	if _, err := s.Claim(context.Background(), id, owner, now, until); err != nil {
		t.Fatalf("Claim(%s): %v", id, err)
	}
}

// sameState compares what a store must keep exactly; Data is compared as
// JSON values, since a database may re-format it.
func sameState(t *testing.T, got, want saga.State) {
	t.Helper()
	var gd, wd any
	if err := json.Unmarshal(got.Data, &gd); err != nil {
		t.Fatalf("stored Data %q: %v", got.Data, err)
	}
	_ = json.Unmarshal(want.Data, &wd)
	if !reflect.DeepEqual(gd, wd) {
		t.Errorf("Data = %s, want %s", got.Data, want.Data)
	}
	got.Data, want.Data = nil, nil
	normTimes(&got)
	normTimes(&want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored state differs:\n got %+v\nwant %+v", got, want)
	}
}

// normTimes puts times in UTC, so that DeepEqual compares instants.
func normTimes(st *saga.State) {
	st.CreatedAt, st.UpdatedAt, st.LeaseExpiry = st.CreatedAt.UTC(), st.UpdatedAt.UTC(), st.LeaseExpiry.UTC()
	for i := range st.Steps {
		st.Steps[i].UpdatedAt = st.Steps[i].UpdatedAt.UTC()
	}
}
