package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestStoreMemory(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return newMemoryStore() })
}

func TestStorePostgres(t *testing.T) {
	testStore(t, newPostgresStore)
}

func newPostgresStore(t *testing.T) Store { return openTestPostgres(t) }

// openTestPostgres is a migrated store on a fresh database of the test
// cluster.
func openTestPostgres(t *testing.T) *postgresStore {
	t.Helper()
	return openTestPostgresAt(t, pgtest.URL(t))
}

// openTestPostgresAt is a migrated store on dsn.
func openTestPostgresAt(t *testing.T, dsn string) *postgresStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := openPostgresStore(ctx, dsn)
	if err != nil {
		t.Fatalf("openPostgresStore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// storeFactories are both Store implementations, for behaviour tests that
// must hold for each.
var storeFactories = []struct {
	name string
	new  func(t *testing.T) Store
}{
	{"memory", func(t *testing.T) Store { return newMemoryStore() }},
	{"postgres", newPostgresStore},
}

var testEpoch = time.Date(2030, 5, 17, 10, 30, 0, 123456000, time.UTC)

func draftPayment(key string, status Status) Payment {
	return Payment{
		ID: uuid.NewString(), OrderID: uuid.NewString(), UserID: uuid.NewString(),
		AmountCents: 1000, Currency: "USD", Status: status, CardBrand: BrandVisa, CardLast4: "4242",
		IdempotencyKey: key, CreatedAt: testEpoch, UpdatedAt: testEpoch,
	}
}

func chargeEvent(p Payment, typ EventType) Event {
	return Event{PaymentID: p.ID, Type: typ, AmountCents: p.AmountCents, IdempotencyKey: p.IdempotencyKey,
		CreatedAt: p.UpdatedAt}
}

// create records a new payment under key via Charge.
func create(t *testing.T, s Store, key string, status Status) Payment {
	t.Helper()
	want := draftPayment(key, status)
	got, err := s.WriteCharge(context.Background(), key, func(existing *Payment) (*Change, error) {
		if existing != nil {
			t.Fatalf("key %q: existing payment %+v, want none", key, *existing)
		}
		return &Change{Payment: want, Event: chargeEvent(want, EventCharged)}, nil
	})
	if err != nil {
		t.Fatalf("Charge(%q): %v", key, err)
	}
	if got != want {
		t.Fatalf("Charge(%q) = %+v, want %+v", key, got, want)
	}
	return got
}

func refundBy(amount int64, key string) func(Payment, *Event) (*Change, error) {
	return func(p Payment, prior *Event) (*Change, error) {
		if prior != nil {
			return nil, nil
		}
		p.RefundedCents += amount
		if p.RefundedCents == p.AmountCents {
			p.Status = StatusRefunded
		}
		p.UpdatedAt = p.UpdatedAt.Add(time.Second)
		return &Change{Payment: p, Event: Event{PaymentID: p.ID, Type: EventRefunded, AmountCents: amount,
			RequestedCents: amount, IdempotencyKey: key, Reason: "test", CreatedAt: p.UpdatedAt}}, nil
	}
}

func events(t *testing.T, s Store, id string) []Event {
	t.Helper()
	evs, err := s.Events(context.Background(), id)
	if err != nil {
		t.Fatalf("Events(%s): %v", id, err)
	}
	return evs
}

// testStore is the contract every Store implementation passes.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("charge records payment and event", func(t *testing.T) {
		s := newStore(t)
		p := create(t, s, "k1", StatusCaptured)
		got, err := s.Payment(ctx, p.ID)
		if err != nil || got != p {
			t.Fatalf("Payment = %+v, %v; want %+v", got, err, p)
		}
		evs := events(t, s, p.ID)
		if want := []Event{chargeEvent(p, EventCharged)}; fmt.Sprint(evs) != fmt.Sprint(want) {
			t.Fatalf("Events = %+v, want %+v", evs, want)
		}
	})

	t.Run("repeat sees existing and writes nothing", func(t *testing.T) {
		s := newStore(t)
		p := create(t, s, "k1", StatusDeclined)
		var seen *Payment
		got, err := s.WriteCharge(ctx, "k1", func(existing *Payment) (*Change, error) {
			seen = existing
			return nil, nil
		})
		if err != nil || got != p || seen == nil || *seen != p {
			t.Fatalf("Charge = %+v, %v (decide saw %+v); want %+v", got, err, seen, p)
		}
		if n := len(events(t, s, p.ID)); n != 1 {
			t.Fatalf("%d events, want 1", n)
		}
	})

	t.Run("decide error writes nothing", func(t *testing.T) {
		s := newStore(t)
		boom := errs.New(errs.FailedPrecondition, "BOOM", "boom")
		draft := draftPayment("k1", StatusCaptured)
		_, err := s.WriteCharge(ctx, "k1", func(*Payment) (*Change, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Charge error = %v, want %v", err, boom)
		}
		// The key is still free.
		create(t, s, "k1", StatusCaptured)
		if _, err := s.Payment(ctx, draft.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Payment(draft) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("no change for a new key is an error", func(t *testing.T) {
		s := newStore(t)
		_, err := s.WriteCharge(ctx, "k1", func(*Payment) (*Change, error) { return nil, nil })
		if errs.KindOf(err) != errs.Internal {
			t.Fatalf("Charge error = %v, want Internal", err)
		}
	})

	t.Run("retry of a failed charge updates outcome only", func(t *testing.T) {
		s := newStore(t)
		p := create(t, s, "k1", StatusFailed)
		later := testEpoch.Add(time.Minute)
		got, err := s.WriteCharge(ctx, "k1", func(existing *Payment) (*Change, error) {
			q := draftPayment("other", StatusCaptured) // identity fields must be ignored
			q.ID, q.UpdatedAt = existing.ID, later
			return &Change{Payment: q, Event: chargeEvent(q, EventCharged)}, nil
		})
		want := p
		want.Status, want.UpdatedAt = StatusCaptured, later
		if err != nil || got != want {
			t.Fatalf("Charge = %+v, %v; want %+v", got, err, want)
		}
		if stored, _ := s.Payment(ctx, p.ID); stored != want {
			t.Fatalf("stored %+v, want %+v", stored, want)
		}
		evs := events(t, s, p.ID)
		if len(evs) != 2 || evs[0].Type != EventCharged || evs[1].Type != EventCharged || evs[1].PaymentID != p.ID {
			t.Fatalf("Events = %+v, want two in order", evs)
		}
	})

	t.Run("unknown payment", func(t *testing.T) {
		s := newStore(t)
		id := uuid.NewString()
		if _, err := s.Payment(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Payment error = %v, want ErrNotFound", err)
		}
		called := false
		_, err := s.Refund(ctx, id, "r1", func(Payment, *Event) (*Change, error) { called = true; return nil, nil })
		if !errors.Is(err, ErrNotFound) || called {
			t.Fatalf("Refund error = %v (decide called: %v), want ErrNotFound before decide", err, called)
		}
		if evs := events(t, s, id); len(evs) != 0 {
			t.Fatalf("Events(unknown) = %+v, want none", evs)
		}
	})

	t.Run("refund updates amount and status, key is remembered", func(t *testing.T) {
		s := newStore(t)
		p := create(t, s, "k1", StatusCaptured)
		got, err := s.Refund(ctx, p.ID, "r1", refundBy(400, "r1"))
		if err != nil || got.RefundedCents != 400 || got.Status != StatusCaptured || !got.UpdatedAt.After(p.UpdatedAt) {
			t.Fatalf("Refund = %+v, %v; want 400 refunded, CAPTURED, later updated_at", got, err)
		}
		got, err = s.Refund(ctx, p.ID, "r2", refundBy(600, "r2"))
		if err != nil || got.RefundedCents != 1000 || got.Status != StatusRefunded {
			t.Fatalf("Refund = %+v, %v; want 1000 refunded, REFUNDED", got, err)
		}
		// The first key, now asked about for another payment too.
		other := create(t, s, "k2", StatusCaptured)
		var prior *Event
		got, err = s.Refund(ctx, other.ID, "r1", func(q Payment, ev *Event) (*Change, error) {
			prior = ev
			return nil, nil
		})
		if err != nil || got != other {
			t.Fatalf("Refund = %+v, %v; want %+v unchanged", got, err, other)
		}
		if prior == nil || prior.PaymentID != p.ID || prior.AmountCents != 400 || prior.RequestedCents != 400 {
			t.Fatalf("prior = %+v, want the r1 refund of %s", prior, p.ID)
		}
		evs := events(t, s, p.ID)
		if len(evs) != 3 || evs[1].Type != EventRefunded || evs[2].IdempotencyKey != "r2" || evs[2].Reason != "test" {
			t.Fatalf("Events = %+v, want charge then two refunds", evs)
		}
	})

	t.Run("refund beyond amount is refused", func(t *testing.T) {
		s := newStore(t)
		p := create(t, s, "k1", StatusCaptured)
		_, err := s.Refund(ctx, p.ID, "r1", refundBy(p.AmountCents+1, "r1"))
		if err == nil {
			t.Fatal("Refund beyond the amount succeeded")
		}
		if got, _ := s.Payment(ctx, p.ID); got != p {
			t.Fatalf("payment changed to %+v", got)
		}
		if n := len(events(t, s, p.ID)); n != 1 {
			t.Fatalf("%d events, want 1", n)
		}
	})

	t.Run("concurrent charges with one key decide once on a new key", func(t *testing.T) {
		s := newStore(t)
		const n = 20
		var fresh atomic.Int32
		var wg sync.WaitGroup
		ids := make([]string, n)
		errc := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := s.WriteCharge(ctx, "same", func(existing *Payment) (*Change, error) {
					if existing != nil {
						return nil, nil
					}
					fresh.Add(1)
					q := draftPayment("same", StatusCaptured)
					return &Change{Payment: q, Event: chargeEvent(q, EventCharged)}, nil
				})
				ids[i] = p.ID
				errc <- err
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatalf("Charge: %v", err)
			}
		}
		if fresh.Load() != 1 {
			t.Fatalf("decide saw no payment %d times, want 1", fresh.Load())
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("callers got different payments: %v", ids)
			}
		}
		if evs := events(t, s, ids[0]); len(evs) != 1 {
			t.Fatalf("Events = %+v, want 1", evs)
		}
	})

	t.Run("concurrent refunds see each other", func(t *testing.T) {
		s := newStore(t)
		p := create(t, s, "k1", StatusCaptured)
		const n = 20
		var wg sync.WaitGroup
		errc := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("r%d", i)
				_, err := s.Refund(ctx, p.ID, key, refundBy(10, key))
				errc <- err
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatalf("Refund: %v", err)
			}
		}
		got, _ := s.Payment(ctx, p.ID)
		if got.RefundedCents != n*10 {
			t.Fatalf("refunded %d, want %d: a refund was lost", got.RefundedCents, n*10)
		}
		if evs := events(t, s, p.ID); len(evs) != n+1 {
			t.Fatalf("%d events, want %d", len(evs), n+1)
		}
	})

	t.Run("charge by key", func(t *testing.T) {
		s := newStore(t)
		p := create(t, s, "k1", StatusPending)
		got, err := s.ChargeByKey(ctx, "k1")
		if err != nil || got != p {
			t.Fatalf("ChargeByKey = %+v, %v; want %+v", got, err, p)
		}
		if _, err := s.ChargeByKey(ctx, "k2"); !errors.Is(err, ErrChargeNotFound) {
			t.Fatalf("ChargeByKey(unknown) error = %v, want ErrChargeNotFound", err)
		}
	})

	t.Run("pending attempt settles", func(t *testing.T) {
		s := newStore(t)
		p := create(t, s, "k1", StatusPending)
		later := testEpoch.Add(time.Second)
		got, err := s.WriteCharge(ctx, "k1", func(existing *Payment) (*Change, error) {
			if existing == nil || existing.Status != StatusPending {
				t.Fatalf("existing = %+v, want the PENDING attempt", existing)
			}
			q := *existing
			q.Status, q.DeclineCode, q.UpdatedAt = StatusDeclined, CodeCardDeclined, later
			return &Change{Payment: q, Event: chargeEvent(q, EventDeclined)}, nil
		})
		want := p
		want.Status, want.DeclineCode, want.UpdatedAt = StatusDeclined, CodeCardDeclined, later
		if err != nil || got != want {
			t.Fatalf("WriteCharge = %+v, %v; want %+v", got, err, want)
		}
	})

	t.Run("pending lists old attempts oldest first", func(t *testing.T) {
		s := newStore(t)
		mk := func(key string, status Status, age time.Duration) Payment {
			want := draftPayment(key, status)
			want.CreatedAt, want.UpdatedAt = testEpoch.Add(-age), testEpoch.Add(-age)
			got, err := s.WriteCharge(ctx, key, func(*Payment) (*Change, error) {
				return &Change{Payment: want, Event: chargeEvent(want, EventAttempted)}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		old := mk("old", StatusPending, 10*time.Minute)
		older := mk("older", StatusPending, 20*time.Minute)
		mk("young", StatusPending, time.Second)
		mk("settled", StatusCaptured, time.Hour)
		cutoff := testEpoch.Add(-time.Minute)
		got, err := s.Pending(ctx, cutoff, 10)
		if err != nil || len(got) != 2 || got[0] != older || got[1] != old {
			t.Fatalf("Pending = %+v, %v; want [older old]", got, err)
		}
		if got, err := s.Pending(ctx, cutoff, 1); err != nil || len(got) != 1 || got[0] != older {
			t.Fatalf("Pending(limit 1) = %+v, %v; want [older]", got, err)
		}
		if got, err := s.Pending(ctx, testEpoch.Add(-time.Hour), 10); err != nil || len(got) != 0 {
			t.Fatalf("Pending(an hour ago) = %+v, %v; want none", got, err)
		}
	})

	t.Run("canceled context", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		called := false
		_, err := s.WriteCharge(cctx, "k1", func(*Payment) (*Change, error) { called = true; return nil, nil })
		if err == nil || called {
			t.Fatalf("Charge on a canceled context = %v (decide called: %v), want an error before decide", err, called)
		}
	})
}

// TestPostgresRecordsArePermanent checks the triggers: even the superuser
// the tests connect as cannot rewrite the ledger or delete a payment.
func TestPostgresRecordsArePermanent(t *testing.T) {
	s := openTestPostgres(t)
	p := create(t, s, "k1", StatusCaptured)
	ctx := context.Background()
	for _, stmt := range []string{
		`UPDATE payment_events SET amount_cents = 0`,
		`DELETE FROM payment_events`,
		`TRUNCATE payment_events`,
		`DELETE FROM payments`,
		`TRUNCATE payments CASCADE`,
	} {
		if _, err := s.db.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s: succeeded, want it refused", stmt)
		}
	}
	if got, err := s.Payment(ctx, p.ID); err != nil || got != p {
		t.Fatalf("Payment = %+v, %v; want %+v", got, err, p)
	}
	if evs := events(t, s, p.ID); len(evs) != 1 || evs[0].AmountCents != p.AmountCents {
		t.Fatalf("Events = %+v, want the charge untouched", evs)
	}
}
