package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	"github.com/kitshop/kitshop/kit/saga"
)

// openRaw is a plain pool on the orders schema at dsn, for a test to act
// as another session (hold locks, look at pg_stat_activity).
func openRaw(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pg.Open(ctx, dsn, "orders")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestStorePostgresConcurrentRelays runs two instances on one database,
// each writing orders and relaying, while a reader follows the log: the
// log ends dense, each order's events in the order they happened, and the
// reader never sees an offset before the one preceding it.
func TestStorePostgresConcurrentRelays(t *testing.T) {
	dsn := pgtest.URL(t)
	stores := []*postgresStore{openTestPostgres(t, dsn, false), openTestPostgres(t, dsn, false)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const producers, perProducer = 4, 12
	const total = producers * perProducer * 2 // PENDING and CONFIRMED

	var (
		wg       sync.WaitGroup
		produced atomic.Bool
		failed   = make(chan error, 16)
	)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	var relayers sync.WaitGroup
	for _, s := range stores {
		relayers.Add(1)
		go func() {
			defer relayers.Done()
			for !produced.Load() && ctx.Err() == nil {
				if _, err := s.RelayEvents(ctx, 5); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		var last int64
		for last < total && ctx.Err() == nil {
			evs, err := stores[0].Events(ctx, last, "", 50)
			if err != nil {
				fail(err)
				return
			}
			for _, ev := range evs {
				if ev.Offset != last+1 {
					fail(errors.New(fmt.Sprintf("reader saw offset %d after %d", ev.Offset, last)))
					return
				}
				last = ev.Offset
			}
		}
	}()
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				writer, confirmer := stores[(p+i)%2], stores[(p+i+1)%2]
				o, st := draftOrder(uuid.NewString(), epoch)
				if _, _, err := writer.CreateOrder(ctx, o, st, nil); err != nil {
					fail(err)
					return
				}
				st, err := confirmer.LoadSaga(ctx, o.ID)
				if err == nil {
					st.Status = saga.Succeeded
					err = confirmer.SaveSaga(ctx, &st, &OrderChange{OrderID: o.ID, Status: StatusConfirmed, Now: epoch})
				}
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	produced.Store(true)
	relayers.Wait()
	for relayAll(t, stores[1]) > 0 {
	}
	<-readDone
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}

	evs, err := stores[0].Events(ctx, 0, "", 10*total)
	if err != nil || len(evs) != total {
		t.Fatalf("Events = %d, %v; want %d", len(evs), err, total)
	}
	checkDense(t, evs, 0)
	seen := map[string]Status{}
	for _, ev := range evs {
		if prev, ok := seen[ev.OrderID]; (!ok && ev.Status != StatusPending) || (ok && (prev != StatusPending || ev.Status != StatusConfirmed)) {
			t.Fatalf("order %s: %s after %q", ev.OrderID, ev.Status, prev)
		}
		seen[ev.OrderID] = ev.Status
	}
}

// TestStorePostgresRelayTakesTurns: while one relay holds the lock,
// another returns 0 at once instead of waiting or numbering in parallel.
func TestStorePostgresRelayTakesTurns(t *testing.T) {
	dsn := pgtest.URL(t)
	s := openTestPostgres(t, dsn, false)
	mustCreate(t, s, uuid.NewString(), epoch)
	ctx := context.Background()
	tx, err := openRaw(t, dsn).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, relayLockKey); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if n, err := s.RelayEvents(ctx, 10); err != nil || n != 0 {
		t.Fatalf("RelayEvents while another relay runs = %d, %v; want 0", n, err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("RelayEvents waited %v for the other relay", d)
	}
	_ = tx.Rollback()
	if n := relayAll(t, s); n != 1 {
		t.Fatalf("RelayEvents after the other relay = %d, want 1", n)
	}
}

// waitWoken follows the log past after on s as a caller does (WaitEvents,
// then a look, again until the look finds news), waits until it is
// blocked in WaitEvents, runs relay, and returns how long it then took
// to see the news.
func waitWoken(t *testing.T, s *postgresStore, after int64, relay func()) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for {
			if err := s.WaitEvents(ctx, after); err != nil {
				done <- err
				return
			}
			evs, err := s.Events(ctx, after, "", 1)
			if err != nil || len(evs) > 0 {
				done <- err
				return
			}
		}
	}()
	kittest.WaitFor(t, 10*time.Second, "WaitEvents to block", func() bool { return s.notify.waiting.Load() == 1 })
	began := time.Now()
	relay()
	if err := <-done; err != nil {
		t.Fatalf("WaitEvents = %v", err)
	}
	return time.Since(began)
}

// TestStorePostgresWaitEventsAcrossInstances: a relay on one instance
// wakes WaitEvents on another through NOTIFY, well before the listener's
// safety poll, also after the listener's connection was killed; without
// a listener, or with one that cannot connect, the wait polls.
func TestStorePostgresWaitEventsAcrossInstances(t *testing.T) {
	kittest.CheckGoroutines(t)
	dsn := pgtest.URL(t)
	listening := openTestPostgres(t, dsn, true)
	polling := openTestPostgres(t, dsn, false)
	unreachable := openTestPostgres(t, dsn, false).withListener("postgres://" + kittest.FreeAddr(t) + "/x?sslmode=disable")
	other := openTestPostgres(t, dsn, false)
	var head int64
	relayOne := func() {
		mustCreate(t, other, uuid.NewString(), epoch)
		if n := relayAll(t, other); n != 1 {
			t.Fatalf("relayed %d", n)
		}
		head++
	}

	listening.notify.watch() // starts the listener
	kittest.WaitFor(t, 10*time.Second, "the listener to listen", listening.notify.listened)
	if d := waitWoken(t, listening, head, relayOne); d > listenedPoll/2 {
		t.Fatalf("NOTIFY woke the other instance after %v", d)
	}
	for name, s := range map[string]*postgresStore{"no listener": polling, "listener down": unreachable} {
		if d := waitWoken(t, s, head, relayOne); d > pollInterval+2*time.Second {
			t.Fatalf("%s: polling woke after %v, want about %v", name, d, pollInterval)
		}
	}
	if unreachable.notify.listened() {
		t.Fatal("a listener on a closed port reports listening")
	}

	// Kill the listener's connection: it reconnects, LISTENs again, and
	// wakes waiters as before.
	raw := openRaw(t, dsn)
	listenerPID := func() (pid int) {
		_ = raw.QueryRow(`SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND query ILIKE 'listen%'`).Scan(&pid)
		return pid
	}
	killed := listenerPID()
	if _, err := raw.Exec(`SELECT pg_terminate_backend($1)`, killed); err != nil || killed == 0 {
		t.Fatalf("terminating the listener's backend %d: %v", killed, err)
	}
	kittest.WaitFor(t, 20*time.Second, "the listener to reconnect", func() bool {
		pid := listenerPID()
		return pid != 0 && pid != killed && listening.notify.listened()
	})
	if d := waitWoken(t, listening, head, relayOne); d > listenedPoll/2 {
		t.Fatalf("the reconnected listener woke after %v", d)
	}
}

// TestStorePostgresBoundedStatements: a call against a table another
// session holds locked ends with its context, and the store works again
// once the lock is gone.
func TestStorePostgresBoundedStatements(t *testing.T) {
	dsn := pgtest.URL(t)
	s := openTestPostgres(t, dsn, false)
	o := mustCreate(t, s, uuid.NewString(), epoch)
	ctx := context.Background()
	tx, err := openRaw(t, dsn).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `LOCK TABLE orders, outbox, sagas IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(ctx context.Context) error{
		"Order": func(ctx context.Context) error { _, err := s.Order(ctx, o.ID); return err },
		"Ship":  func(ctx context.Context) error { _, err := s.Ship(ctx, o.ID, epoch); return err },
		"CreateOrder": func(ctx context.Context) error {
			o, st := draftOrder(uuid.NewString(), epoch)
			_, _, err := s.CreateOrder(ctx, o, st, nil)
			return err
		},
		"RelayEvents": func(ctx context.Context) error { _, err := s.RelayEvents(ctx, 10); return err },
		"ClaimSaga": func(ctx context.Context) error {
			_, err := s.ClaimSaga(ctx, o.ID, "me", epoch, epoch.Add(time.Minute))
			return err
		},
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		began := time.Now()
		err := call(cctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s against a locked table = %v, want DeadlineExceeded", name, err)
		}
		if d := time.Since(began); d > 3*time.Second {
			t.Errorf("%s took %v with a 300ms deadline", name, d)
		}
	}
	_ = tx.Rollback()
	if _, err := s.Ship(ctx, o.ID, epoch); !errors.Is(err, ErrInvalidOrderState) {
		t.Fatalf("Ship after the lock = %v, want ErrInvalidOrderState (the store works again)", err)
	}
}
