package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// notify is the notification worker's pure part, for the tests: one
// notification per event.
func notify(batch []Event) ([]Notification, error) {
	out := make([]Notification, len(batch))
	for i, ev := range batch {
		out[i] = Notification{Offset: ev.Offset, OrderID: ev.OrderID, UserID: ev.UserID, Kind: string(ev.Status),
			Message: fmt.Sprintf("order %s is %s", ev.OrderID, ev.Status), CreatedAt: epoch}
	}
	return out, nil
}

// checkDense fails unless evs have offsets from+1, from+2, ...
func checkDense(t *testing.T, evs []Event, from int64) {
	t.Helper()
	for i, ev := range evs {
		if ev.Offset != from+int64(i)+1 {
			t.Fatalf("event %d has offset %d, want %d", i, ev.Offset, from+int64(i)+1)
		}
	}
}

func TestStoreRelayAndEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		user := uuid.NewString()
		a := mustCreate(t, s, user, epoch)
		b := mustCreate(t, s, user, epoch)
		saveChange(t, s, a.ID, &OrderChange{OrderID: a.ID, Status: StatusConfirmed, Now: epoch.Add(time.Second)})

		// Limits move the oldest first; the rest waits for the next relay.
		if n, err := s.RelayEvents(ctx, 2); err != nil || n != 2 {
			t.Fatalf("RelayEvents(2) = %d, %v", n, err)
		}
		if n := relayAll(t, s); n != 1 {
			t.Fatalf("second relay moved %d, want 1", n)
		}
		evs, err := s.Events(ctx, 0, "", 10)
		if err != nil || len(evs) != 3 {
			t.Fatalf("Events = %+v, %v", evs, err)
		}
		checkDense(t, evs, 0)
		order := []string{evs[0].OrderID + string(evs[0].Status), evs[1].OrderID + string(evs[1].Status), evs[2].OrderID + string(evs[2].Status)}
		if order[0] != a.ID+"PENDING" || order[1] != b.ID+"PENDING" || order[2] != a.ID+"CONFIRMED" {
			t.Fatalf("events out of write order: %v", order)
		}
		if evs, _ := s.Events(ctx, 1, a.ID, 10); len(evs) != 1 || evs[0].Offset != 3 {
			t.Fatalf("Events(after 1, order a) = %+v", evs)
		}
		if evs, _ := s.Events(ctx, 0, "", 2); len(evs) != 2 {
			t.Fatalf("Events(limit 2) = %d events", len(evs))
		}
		if evs, err := s.Events(ctx, 0, "not-a-uuid", 10); err != nil || len(evs) != 0 {
			t.Fatalf("Events(bad order) = %+v, %v", evs, err)
		}
	})
}

func TestStoreConsumerCatchesUp(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		user := uuid.NewString()
		for range 5 {
			mustCreate(t, s, user, epoch)
		}
		relayAll(t, s)

		handed := map[int64]int{}
		var mu sync.Mutex
		count := func(batch []Event) ([]Notification, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range batch {
				handed[ev.Offset]++
			}
			return notify(batch)
		}
		if n, err := s.ConsumeEvents(ctx, "notifications", 2, count); err != nil || n != 2 {
			t.Fatalf("ConsumeEvents = %d, %v", n, err)
		}
		// A failing handler writes nothing and keeps the offset.
		boom := errors.New("boom")
		if _, err := s.ConsumeEvents(ctx, "notifications", 2, func([]Event) ([]Notification, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("ConsumeEvents with a failing handler = %v", err)
		}
		if off, err := s.ConsumerOffset(ctx, "notifications"); err != nil || off != 2 {
			t.Fatalf("ConsumerOffset = %d, %v; want 2", off, err)
		}

		// The worker is down while more happens; then two workers under
		// the same name catch up together.
		for range 4 {
			mustCreate(t, s, user, epoch)
		}
		relayAll(t, s)
		var wg sync.WaitGroup
		errc := make(chan error, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := s.ConsumeEvents(ctx, "notifications", 2, count)
					if err != nil || n == 0 {
						errc <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatalf("ConsumeEvents: %v", err)
			}
		}
		for off := int64(1); off <= 9; off++ {
			if handed[off] != 1 {
				t.Fatalf("event %d handed %d times, want once (all: %v)", off, handed[off], handed)
			}
		}
		notes, err := s.Notifications(ctx, 0, 100)
		if err != nil || len(notes) != 9 {
			t.Fatalf("Notifications = %d, %v; want 9", len(notes), err)
		}
		for i, n := range notes {
			if n.Offset != int64(i)+1 || n.Kind != "PENDING" || n.UserID != user || !n.CreatedAt.Equal(epoch) {
				t.Fatalf("notification %d = %+v", i, n)
			}
		}
		if notes, _ := s.Notifications(ctx, 7, 100); len(notes) != 2 || notes[0].Offset != 8 {
			t.Fatalf("Notifications(after 7) = %+v", notes)
		}
		if off, _ := s.ConsumerOffset(ctx, "notifications"); off != 9 {
			t.Fatalf("ConsumerOffset = %d, want 9", off)
		}
		if off, err := s.ConsumerOffset(ctx, "never-ran"); err != nil || off != 0 {
			t.Fatalf("ConsumerOffset(never ran) = %d, %v", off, err)
		}
	})
}

func TestStoreWaitEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		mustCreate(t, s, uuid.NewString(), epoch)

		// Bounded by ctx when nothing comes.
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		began := time.Now()
		// A wake-up is a hint: it may come without news, so wait as a
		// caller does, until ctx ends.
		var err error
		for err == nil {
			err = s.WaitEvents(short, 0)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitEvents with nothing to come = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(began); d > 900*time.Millisecond {
			t.Fatalf("WaitEvents outlived its context by %v", d)
		}

		// Woken by a relay.
		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			done <- s.WaitEvents(wctx, 0)
		}()
		relayAll(t, s)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("WaitEvents after a relay = %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("WaitEvents not woken by a relay")
		}

		// Returns at once when the log is already past after.
		began = time.Now()
		if err := s.WaitEvents(ctx, 0); err != nil {
			t.Fatalf("WaitEvents with the log past after = %v", err)
		}
		if d := time.Since(began); d > 900*time.Millisecond {
			t.Fatalf("WaitEvents took %v with an event already there", d)
		}
	})
}
