package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/payments/client"
)

// fakeUsers knows a fixed set of users; down makes it fail as an
// unreachable users service does.
type fakeUsers struct {
	mu    sync.Mutex
	known map[string]bool
	down  bool
	calls atomic.Int32
}

func (u *fakeUsers) Validate(_ context.Context, id string) error {
	u.calls.Add(1)
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.down:
		return errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, errors.New("connection refused"), "users unavailable")
	case !u.known[id]:
		return errs.New(errs.NotFound, "USER_NOT_FOUND", "user not found")
	}
	return nil
}

func TestChargeRefusesUnknownUsers(t *testing.T) {
	store := newMemoryStore()
	sim := NewSimulatedProcessor()
	proc := &countingProcessor{Processor: sim, sim: sim}
	known := chargeReq(TestCardApproved)
	users := &fakeUsers{known: map[string]bool{known.UserID: true}}
	svc := NewService(store, users, Options{Processor: proc, Now: func() time.Time { return testNow }})
	ctx := context.Background()

	if p, err := svc.Charge(ctx, known); err != nil || p.Status != StatusCaptured {
		t.Fatalf("Charge for a known user = %+v, %v", p, err)
	}

	stranger := chargeReq(TestCardApproved)
	_, err := svc.Charge(ctx, stranger)
	kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonUserNotFound)
	if _, err := store.ChargeByKey(ctx, stranger.IdempotencyKey); !errors.Is(err, ErrChargeNotFound) {
		t.Fatalf("a refused charge left a record: %v", err)
	}
	if n := proc.calls.Load(); n != 1 {
		t.Fatalf("processor called %d times, want only for the known user", n)
	}

	// Users unreachable: retryable, and nothing recorded.
	other := chargeReq(TestCardApproved)
	users.mu.Lock()
	users.down, users.known[other.UserID] = true, true
	users.mu.Unlock()
	_, err = svc.Charge(ctx, other)
	kittest.WantErr(t, err, errs.Unavailable, errs.ReasonUnavailable)
	if _, err := store.ChargeByKey(ctx, other.IdempotencyKey); !errors.Is(err, ErrChargeNotFound) {
		t.Fatalf("a charge that could not check its user left a record: %v", err)
	}

	// A repeat of a recorded charge reports its outcome without asking
	// users: the check was made when it was first recorded.
	calls := users.calls.Load()
	if p, err := svc.Charge(ctx, known); err != nil || p.Status != StatusCaptured {
		t.Fatalf("repeat while users is down = %+v, %v; want the recorded payment", p, err)
	}
	if users.calls.Load() != calls {
		t.Fatal("a repeat asked users again")
	}
}

func TestNoUsersCheckIsLogged(t *testing.T) {
	logs := &kittest.LogBuffer{}
	NewService(newMemoryStore(), nil, Options{Logger: logx.New(logs, "payments")})
	line := logs.Find(t, "level", "warn")
	if line == nil {
		t.Fatalf("no warning that charges skip the user check:\n%s", logs.String())
	}
	// And a service with a users client says nothing of the sort.
	logs.Reset()
	NewService(newMemoryStore(), &fakeUsers{known: map[string]bool{uuid.NewString(): true}}, Options{Logger: logx.New(logs, "payments")})
	if logs.String() != "" {
		t.Fatalf("unexpected log: %s", logs.String())
	}
}
