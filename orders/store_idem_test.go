package main

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/saga"
)

func TestStoreIdempotency(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		user := uuid.NewString()
		claim := func(key string, at time.Time) *IdemClaim {
			return &IdemClaim{UserID: user, Key: key, Fingerprint: "fp-" + key,
				LockedUntil: at.Add(time.Minute), ExpiresAt: at.Add(24 * time.Hour)}
		}
		first, st := draftOrder(user, epoch)
		if rec, created, err := s.CreateOrder(ctx, first, st, claim("k1", epoch)); err != nil || !created || rec.Key != "" {
			t.Fatalf("CreateOrder with a new key = %+v, %v, %v", rec, created, err)
		}
		relayAll(t, s)

		// The key again: nothing written, the record returned.
		second, st2 := draftOrder(user, epoch.Add(time.Second))
		rec, created, err := s.CreateOrder(ctx, second, st2, claim("k1", epoch.Add(time.Second)))
		want := IdemRecord{UserID: user, Key: "k1", Fingerprint: "fp-k1", OrderID: first.ID,
			LockedUntil: epoch.Add(time.Minute), ExpiresAt: epoch.Add(24 * time.Hour), CreatedAt: epoch}
		if err != nil || created || !reflect.DeepEqual(rec, want) {
			t.Fatalf("CreateOrder with a used key = %+v, %v, %v\nwant %+v", rec, created, err, want)
		}
		if _, err := s.Order(ctx, second.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the repeat created its order: %v", err)
		}
		if _, err := s.LoadSaga(ctx, second.ID); !errors.Is(err, saga.ErrNotFound) {
			t.Fatalf("the repeat created its saga: %v", err)
		}
		if n := relayAll(t, s); n != 0 {
			t.Fatalf("the repeat wrote %d events", n)
		}
		// Keys are scoped to the user.
		o3, st3 := draftOrder(uuid.NewString(), epoch)
		c3 := claim("k1", epoch)
		c3.UserID = o3.UserID
		if _, created, err := s.CreateOrder(ctx, o3, st3, c3); err != nil || !created {
			t.Fatalf("another user's k1 = %v, %v", created, err)
		}

		// The lock: live at first, taken once expired, not twice.
		if rec, taken, err := s.LockIdempotent(ctx, user, "k1", epoch.Add(30*time.Second), epoch.Add(2*time.Minute)); err != nil || taken || rec.OrderID != first.ID {
			t.Fatalf("LockIdempotent while live = %+v, %v, %v", rec, taken, err)
		}
		rec, taken, err := s.LockIdempotent(ctx, user, "k1", epoch.Add(time.Minute), epoch.Add(3*time.Minute))
		if err != nil || !taken || !rec.LockedUntil.Equal(epoch.Add(3*time.Minute)) {
			t.Fatalf("LockIdempotent after expiry = %+v, %v, %v", rec, taken, err)
		}
		if _, taken, _ := s.LockIdempotent(ctx, user, "k1", epoch.Add(time.Minute), epoch.Add(3*time.Minute)); taken {
			t.Fatal("an expired lock was taken twice")
		}
		if _, _, err := s.LockIdempotent(ctx, user, "nope", epoch, epoch); !errors.Is(err, errIdemNotFound) {
			t.Fatalf("LockIdempotent(unknown) = %v", err)
		}

		// Complete stores the answer once; the first one stays.
		answer := json.RawMessage(`{"order": {"id": "x"},  "error": null}`)
		if err := s.CompleteIdempotent(ctx, user, "k1", answer, epoch.Add(2*time.Minute)); err != nil {
			t.Fatalf("CompleteIdempotent: %v", err)
		}
		if err := s.CompleteIdempotent(ctx, user, "k1", json.RawMessage(`{}`), epoch.Add(3*time.Minute)); err != nil {
			t.Fatalf("CompleteIdempotent again: %v", err)
		}
		rec, created, _ = s.CreateOrder(ctx, second, st2, claim("k1", epoch.Add(time.Second)))
		if created || !rec.Complete || string(rec.Response) != string(answer) {
			t.Fatalf("completed record = %+v (response %s), created %v", rec, rec.Response, created)
		}
		if _, taken, _ := s.LockIdempotent(ctx, user, "k1", epoch.Add(time.Hour), epoch.Add(2*time.Hour)); taken {
			t.Fatal("a complete record's lock was taken")
		}
		if err := s.CompleteIdempotent(ctx, user, "nope", answer, epoch); !errors.Is(err, errIdemNotFound) {
			t.Fatalf("CompleteIdempotent(unknown) = %v", err)
		}

		// Expired: free for a new order even before the purge, then purged.
		late := epoch.Add(25 * time.Hour)
		fresh, st4 := draftOrder(user, late)
		if _, created, err := s.CreateOrder(ctx, fresh, st4, claim("k1", late)); err != nil || !created {
			t.Fatalf("CreateOrder with an expired key = %v, %v", created, err)
		}
		n, err := s.PurgeIdempotent(ctx, epoch.Add(25*time.Hour))
		if err != nil || n != 1 { // the other user's k1
			t.Fatalf("PurgeIdempotent = %d, %v; want 1", n, err)
		}
		if rec, _, _ := s.LockIdempotent(ctx, user, "k1", late, late); rec.OrderID != fresh.ID {
			t.Fatalf("after the purge k1 names %s, want %s", rec.OrderID, fresh.ID)
		}
	})
}

func TestStoreIdempotencyRace(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		user := uuid.NewString()
		const n = 8
		type result struct {
			order   Order
			rec     IdemRecord
			created bool
			err     error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, st := draftOrder(user, epoch)
				<-start
				rec, created, err := s.CreateOrder(ctx, o, st, &IdemClaim{UserID: user, Key: "race",
					Fingerprint: "fp", LockedUntil: epoch.Add(time.Minute), ExpiresAt: epoch.Add(time.Hour)})
				results[i] = result{o, rec, created, err}
			}()
		}
		close(start)
		wg.Wait()
		var winner *result
		for i := range results {
			r := &results[i]
			if r.err != nil {
				t.Fatalf("racing CreateOrder: %v", r.err)
			}
			if r.created {
				if winner != nil {
					t.Fatalf("two orders created with one key: %s and %s", winner.order.ID, r.order.ID)
				}
				winner = r
			}
		}
		if winner == nil {
			t.Fatal("no racing CreateOrder created the order")
		}
		for _, r := range results {
			if !r.created && r.rec.OrderID != winner.order.ID {
				t.Fatalf("a loser got record %+v, want order %s", r.rec, winner.order.ID)
			}
		}
		all, _ := s.AllOrders(ctx, "", 100)
		if len(all) != 1 {
			t.Fatalf("%d orders stored, want 1", len(all))
		}
		if n := relayAll(t, s); n != 1 {
			t.Fatalf("%d events written, want 1", n)
		}
	})
}
