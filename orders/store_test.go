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

	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/kit/saga/sagatest"
)

// storeKinds are both Store implementations: every behaviour test runs
// against each.
var storeKinds = []struct {
	name string
	new  func(t *testing.T) Store
}{
	{"memory", func(t *testing.T) Store { return newMemoryStore() }},
	{"postgres", func(t *testing.T) Store { return openTestPostgres(t, pgtest.URL(t), true) }},
}

func forEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { test(t, k.new(t)) })
	}
}

// openTestPostgres opens the migrated orders schema at dsn as main does,
// LISTENing through dsn when listen is set. Several calls with one dsn
// are several instances sharing a database.
func openTestPostgres(t *testing.T, dsn string, listen bool) *postgresStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pg.OpenMigrated(ctx, dsn, "orders", migrationFiles)
	if err != nil {
		t.Fatalf("opening the orders schema: %v", err)
	}
	s := newPostgresStore(db)
	if listen {
		s.withListener(dsn)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sagaStore adapts Store to the saga store contract suite.
type sagaStore struct{ s Store }

func (a sagaStore) Create(ctx context.Context, st saga.State) error { return a.s.CreateSaga(ctx, st) }
func (a sagaStore) Save(ctx context.Context, st *saga.State) error  { return a.s.SaveSaga(ctx, st, nil) }
func (a sagaStore) Load(ctx context.Context, id string) (saga.State, error) {
	return a.s.LoadSaga(ctx, id)
}
func (a sagaStore) Claim(ctx context.Context, id, owner string, now, until time.Time) (saga.State, error) {
	return a.s.ClaimSaga(ctx, id, owner, now, until)
}
func (a sagaStore) Renew(ctx context.Context, id, owner string, until time.Time) error {
	return a.s.RenewSaga(ctx, id, owner, until)
}
func (a sagaStore) ListClaimable(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return a.s.ListClaimableSagas(ctx, now, limit)
}

func TestStoreSagaContract(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			sagatest.StoreContract(t, func(t *testing.T) sagatest.Store { return sagaStore{k.new(t)} })
		})
	}
}

// epoch is a time both stores keep exactly (UTC, whole microseconds).
var epoch = time.Date(2031, 3, 4, 5, 6, 7, 891000, time.UTC)

var (
	testCheckout = &saga.Definition{Name: "checkout.v1", Steps: []saga.Step{
		{Name: "validate_user"}, {Name: "reserve"}, {Name: "charge"}, {Name: "commit"}}}
	testCancel = &saga.Definition{Name: "cancel.v1", Steps: []saga.Step{{Name: "refund"}, {Name: "restock"}}}
)

// draftOrder is a new PENDING order of userID placed at at, with its
// checkout saga.
func draftOrder(userID string, at time.Time) (Order, saga.State) {
	o := Order{
		ID: uuid.NewString(), UserID: userID, Status: StatusPending,
		Items: []Item{
			{ProductID: uuid.NewString(), SKU: "SKU-1", Name: "Mug", Quantity: 2, UnitPriceCents: 450, LineTotalCents: 900},
			{ProductID: uuid.NewString(), SKU: "SKU-2", Name: "Tea", Quantity: 1, UnitPriceCents: 1200, LineTotalCents: 1200},
		},
		TotalCents: 2100, Currency: "EUR",
		ShippingAddress: Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		CreatedAt:       at, UpdatedAt: at,
	}
	return o, saga.NewState(testCheckout, o.ID, json.RawMessage(`{"order":"`+o.ID+`"}`), at)
}

func mustCreate(t *testing.T, s Store, userID string, at time.Time) Order {
	t.Helper()
	o, st := draftOrder(userID, at)
	if _, created, err := s.CreateOrder(context.Background(), o, st, nil); err != nil || !created {
		t.Fatalf("CreateOrder = created %v, %v", created, err)
	}
	return o
}

func mustOrder(t *testing.T, s Store, id string) Order {
	t.Helper()
	o, err := s.Order(context.Background(), id)
	if err != nil {
		t.Fatalf("Order(%s): %v", id, err)
	}
	return o
}

func sameOrder(t *testing.T, got, want Order) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order differs:\n got %+v\nwant %+v", got, want)
	}
}

// relayAll moves the whole outbox to the log and returns how many moved.
func relayAll(t *testing.T, s Store) int {
	t.Helper()
	n, err := s.RelayEvents(context.Background(), 1000)
	if err != nil {
		t.Fatalf("RelayEvents: %v", err)
	}
	return n
}

// saveChange saves the order's checkout saga with change, as the service
// does on a transition.
func saveChange(t *testing.T, s Store, orderID string, change *OrderChange) {
	t.Helper()
	ctx := context.Background()
	st, err := s.LoadSaga(ctx, orderID)
	if err != nil {
		t.Fatalf("LoadSaga: %v", err)
	}
	st.Steps[0].Status = saga.StepDone
	if err := s.SaveSaga(ctx, &st, change); err != nil {
		t.Fatalf("SaveSaga: %v", err)
	}
}

// confirm moves a new order to CONFIRMED and relays its events.
func confirm(t *testing.T, s Store, o Order) Order {
	t.Helper()
	saveChange(t, s, o.ID, &OrderChange{OrderID: o.ID, Status: StatusConfirmed, PaymentID: "pay-1", Now: epoch.Add(time.Minute)})
	relayAll(t, s)
	return mustOrder(t, s, o.ID)
}

func TestStoreCreateAndRead(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		user := uuid.NewString()
		o, st := draftOrder(user, epoch)
		if _, created, err := s.CreateOrder(ctx, o, st, nil); err != nil || !created {
			t.Fatalf("CreateOrder = created %v, %v", created, err)
		}
		sameOrder(t, mustOrder(t, s, o.ID), o)

		got, err := s.LoadSaga(ctx, o.ID)
		if err != nil || got.Definition != "checkout.v1" || got.Status != saga.Running || len(got.Steps) != 4 {
			t.Fatalf("LoadSaga = %+v, %v", got, err)
		}
		recs, err := s.Sagas(ctx, SagasActive, 10)
		if err != nil || len(recs) != 1 || recs[0].OrderID != o.ID || recs[0].Kind != "checkout" || recs[0].State.ID != o.ID {
			t.Fatalf("Sagas(active) = %+v, %v", recs, err)
		}
		if recs, err := s.Sagas(ctx, SagasFailed, 10); err != nil || len(recs) != 0 {
			t.Fatalf("Sagas(failed) = %+v, %v", recs, err)
		}
		if _, err := s.Sagas(ctx, "bogus", 10); err == nil {
			t.Fatal("Sagas(bogus) succeeded")
		}

		// The first event, PENDING, waits in the outbox for the relay.
		if evs, _ := s.Events(ctx, 0, "", 10); len(evs) != 0 {
			t.Fatalf("events before the relay: %+v", evs)
		}
		if n := relayAll(t, s); n != 1 {
			t.Fatalf("relayed %d, want 1", n)
		}
		evs, err := s.Events(ctx, 0, o.ID, 10)
		want := []Event{{Offset: 1, OrderID: o.ID, UserID: user, Status: StatusPending, CreatedAt: epoch}}
		if err != nil || !reflect.DeepEqual(evs, want) {
			t.Fatalf("Events = %+v, %v; want %+v", evs, err, want)
		}

		for _, id := range []string{uuid.NewString(), "not-a-uuid", ""} {
			if _, err := s.Order(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Order(%q) = %v, want ErrNotFound", id, err)
			}
		}
		if _, _, err := s.CreateOrder(ctx, o, saga.NewState(testCheckout, uuid.NewString(), nil, epoch), nil); err == nil {
			t.Error("a second order with the same id was created")
		}
		dup, st2 := draftOrder(user, epoch)
		dup.Items[1].ProductID = dup.Items[0].ProductID
		if _, _, err := s.CreateOrder(ctx, dup, st2, nil); !errors.Is(err, errDuplicateItem) {
			t.Errorf("CreateOrder with a product twice = %v, want errDuplicateItem", err)
		}
		if _, err := s.Order(ctx, dup.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("the refused order was stored: %v", err)
		}
	})
}

func TestStoreOrdersPages(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		user, other := uuid.NewString(), uuid.NewString()
		var all []Order
		for i := range 7 {
			// Pairs share a creation time: the id breaks the tie.
			all = append(all, mustCreate(t, s, user, epoch.Add(time.Duration(i/2)*time.Second)))
		}
		mustCreate(t, s, other, epoch.Add(time.Hour))
		// Newest first, then by id descending.
		want := append([]Order(nil), all...)
		sortNewestFirst(want)

		var got []Order
		var after *OrderCursor
		for {
			page, err := s.Orders(ctx, user, after, 3)
			if err != nil {
				t.Fatalf("Orders: %v", err)
			}
			got = append(got, page...)
			if len(page) < 3 {
				break
			}
			last := page[len(page)-1]
			after = &OrderCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if ids(got) != ids(want) {
			t.Fatalf("pages = %v\nwant    %v", ids(got), ids(want))
		}
		sameOrder(t, got[0], want[0])
		if page, err := s.Orders(ctx, "not-a-uuid", nil, 3); err != nil || len(page) != 0 {
			t.Fatalf("Orders(bad user) = %v, %v", page, err)
		}

		// AllOrders walks every user's orders in id order.
		var walked []Order
		for afterID := ""; ; {
			page, err := s.AllOrders(ctx, afterID, 3)
			if err != nil {
				t.Fatalf("AllOrders: %v", err)
			}
			walked = append(walked, page...)
			if len(page) < 3 {
				break
			}
			afterID = page[len(page)-1].ID
		}
		if len(walked) != 8 {
			t.Fatalf("AllOrders walked %d orders, want 8", len(walked))
		}
		for i := 1; i < len(walked); i++ {
			if walked[i-1].ID >= walked[i].ID {
				t.Fatalf("AllOrders out of id order: %s then %s", walked[i-1].ID, walked[i].ID)
			}
		}
	})
}

func sortNewestFirst(os []Order) {
	for i := range os {
		for j := i + 1; j < len(os); j++ {
			a, b := os[i], os[j]
			if b.CreatedAt.After(a.CreatedAt) || (b.CreatedAt.Equal(a.CreatedAt) && b.ID > a.ID) {
				os[i], os[j] = b, a
			}
		}
	}
}

func ids(os []Order) string {
	s := ""
	for _, o := range os {
		s += o.ID[:8] + " "
	}
	return s
}

func TestStoreSaveSagaAppliesChange(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		o := mustCreate(t, s, uuid.NewString(), epoch)
		relayAll(t, s)

		// Prices from the reservation: items, total, currency; no event.
		at := epoch.Add(time.Second)
		repriced := []Item{{ProductID: o.Items[0].ProductID, UnitPriceCents: 500}, {ProductID: o.Items[1].ProductID, UnitPriceCents: 1200}}
		saveChange(t, s, o.ID, &OrderChange{OrderID: o.ID, Items: repriced, TotalCents: 2200, Currency: "USD", Now: at})
		want := o
		want.Items = append([]Item(nil), o.Items...)
		want.Items[0].UnitPriceCents, want.Items[0].LineTotalCents = 500, 1000
		want.TotalCents, want.Currency, want.UpdatedAt = 2200, "USD", at
		sameOrder(t, mustOrder(t, s, o.ID), want)
		if n := relayAll(t, s); n != 0 {
			t.Fatalf("a change without a status change relayed %d events", n)
		}

		// A change that changes nothing writes nothing, not even updated_at.
		saveChange(t, s, o.ID, &OrderChange{OrderID: o.ID, Items: repriced, TotalCents: 2200, Currency: "USD", Now: at.Add(time.Hour)})
		sameOrder(t, mustOrder(t, s, o.ID), want)

		// A status change writes exactly one event, with its reason.
		at = at.Add(time.Second)
		saveChange(t, s, o.ID, &OrderChange{OrderID: o.ID, Status: StatusCancelled, FailureReason: "PAYMENT_DECLINED", Now: at})
		want.Status, want.FailureReason, want.UpdatedAt = StatusCancelled, "PAYMENT_DECLINED", at
		sameOrder(t, mustOrder(t, s, o.ID), want)
		if n := relayAll(t, s); n != 1 {
			t.Fatalf("a status change relayed %d events, want 1", n)
		}
		evs, _ := s.Events(ctx, 1, "", 10)
		if len(evs) != 1 || evs[0].Status != StatusCancelled || evs[0].Reason != "PAYMENT_DECLINED" || !evs[0].CreatedAt.Equal(at) {
			t.Fatalf("events = %+v", evs)
		}
		// The same status again is no change.
		saveChange(t, s, o.ID, &OrderChange{OrderID: o.ID, Status: StatusCancelled, Now: at.Add(time.Hour)})
		if n := relayAll(t, s); n != 0 {
			t.Fatalf("repeating a status relayed %d events", n)
		}

		// A stale save writes nothing: neither the saga nor the order.
		st, _ := s.LoadSaga(ctx, o.ID)
		stale := st.Clone()
		if err := s.SaveSaga(ctx, &st, nil); err != nil {
			t.Fatal(err)
		}
		stale.Status = saga.Succeeded
		err := s.SaveSaga(ctx, &stale, &OrderChange{OrderID: o.ID, Status: StatusConfirmed, Now: at.Add(time.Hour)})
		if !errors.Is(err, saga.ErrConflict) {
			t.Fatalf("stale SaveSaga = %v, want ErrConflict", err)
		}
		if stale.Version != st.Version-1 {
			t.Fatalf("a refused save moved the version to %d", stale.Version)
		}
		sameOrder(t, mustOrder(t, s, o.ID), want)
		if n := relayAll(t, s); n != 0 {
			t.Fatalf("a refused save relayed %d events", n)
		}
		if got, _ := s.LoadSaga(ctx, o.ID); got.Status != saga.Running || got.Version != st.Version {
			t.Fatalf("a refused save changed the saga: %+v", got)
		}
		if err := s.SaveSaga(ctx, &saga.State{ID: "missing"}, nil); !errors.Is(err, saga.ErrNotFound) {
			t.Fatalf("SaveSaga(missing) = %v, want ErrNotFound", err)
		}
		// A change for an order that does not exist fails the whole save.
		st, _ = s.LoadSaga(ctx, o.ID)
		if err := s.SaveSaga(ctx, &st, &OrderChange{OrderID: uuid.NewString(), Status: StatusConfirmed}); err == nil {
			t.Fatal("SaveSaga with a change for an unknown order succeeded")
		}
		if got, _ := s.LoadSaga(ctx, o.ID); got.Version != st.Version {
			t.Fatalf("the failed save was written: version %d, want %d", got.Version, st.Version)
		}
	})
}

func TestStoreShipAndCancelRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		user := uuid.NewString()
		pending := mustCreate(t, s, user, epoch)
		cancelState := func() saga.State { return saga.NewState(testCancel, uuid.NewString(), nil, epoch) }

		// PENDING: neither shipped nor cancelled, and the error carries it.
		_, err := s.Ship(ctx, pending.ID, epoch)
		if o, ok := OrderOf(err); !errors.Is(err, ErrInvalidOrderState) || !ok || o.ID != pending.ID || o.Status != StatusPending {
			t.Fatalf("Ship(PENDING) = %v (order %+v)", err, o)
		}
		if _, _, err := s.StartCancel(ctx, pending.ID, cancelState()); !errors.Is(err, ErrInvalidOrderState) {
			t.Fatalf("StartCancel(PENDING) = %v", err)
		}
		for _, id := range []string{uuid.NewString(), "nope"} {
			if _, err := s.Ship(ctx, id, epoch); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Ship(%q) = %v, want ErrNotFound", id, err)
			}
			if _, _, err := s.StartCancel(ctx, id, cancelState()); !errors.Is(err, ErrNotFound) {
				t.Fatalf("StartCancel(%q) = %v, want ErrNotFound", id, err)
			}
		}

		// CONFIRMED ships once, with its event.
		shipped := confirm(t, s, mustCreate(t, s, user, epoch))
		at := epoch.Add(time.Hour)
		got, err := s.Ship(ctx, shipped.ID, at)
		if err != nil || got.Status != StatusShipped || !got.UpdatedAt.Equal(at) {
			t.Fatalf("Ship(CONFIRMED) = %+v, %v", got, err)
		}
		sameOrder(t, mustOrder(t, s, shipped.ID), got)
		if n := relayAll(t, s); n != 1 {
			t.Fatalf("Ship relayed %d events, want 1", n)
		}
		if _, err := s.Ship(ctx, shipped.ID, at); !errors.Is(err, ErrInvalidOrderState) {
			t.Fatalf("Ship(SHIPPED) = %v", err)
		}
		if _, _, err := s.StartCancel(ctx, shipped.ID, cancelState()); !errors.Is(err, ErrInvalidOrderState) {
			t.Fatalf("StartCancel(SHIPPED) = %v", err)
		}

		// CONFIRMED cancels once; repeats get the same saga; it cannot ship.
		c := confirm(t, s, mustCreate(t, s, user, epoch))
		st := cancelState()
		id, started, err := s.StartCancel(ctx, c.ID, st)
		if err != nil || !started || id != st.ID {
			t.Fatalf("StartCancel = %q, %v, %v", id, started, err)
		}
		if loaded, err := s.LoadSaga(ctx, st.ID); err != nil || loaded.Definition != "cancel.v1" {
			t.Fatalf("LoadSaga(cancel) = %+v, %v", loaded, err)
		}
		again, started, err := s.StartCancel(ctx, c.ID, cancelState())
		if err != nil || started || again != st.ID {
			t.Fatalf("StartCancel again = %q, %v, %v; want %q, false", again, started, err, st.ID)
		}
		if _, err := s.Ship(ctx, c.ID, at); !errors.Is(err, ErrInvalidOrderState) {
			t.Fatalf("Ship while cancelling = %v", err)
		}
		if got := mustOrder(t, s, c.ID); got.Status != StatusConfirmed {
			t.Fatalf("StartCancel changed the order to %s", got.Status)
		}
		recs, _ := s.Sagas(ctx, SagasActive, 100)
		kinds := map[string]string{}
		for _, r := range recs {
			kinds[r.State.ID] = r.Kind + "/" + r.OrderID
		}
		if kinds[st.ID] != "cancel/"+c.ID {
			t.Fatalf("Sagas lists the cancel saga as %q", kinds[st.ID])
		}

		// Racing cancels start one saga.
		r := confirm(t, s, mustCreate(t, s, user, epoch))
		var wg sync.WaitGroup
		results := make([]string, 6)
		starts := make([]bool, 6)
		errs := make([]error, 6)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], starts[i], errs[i] = s.StartCancel(ctx, r.ID, cancelState())
			}()
		}
		wg.Wait()
		won := 0
		for i := range results {
			if errs[i] != nil || results[i] != results[0] {
				t.Fatalf("StartCancel %d = %q, %v; first %q", i, results[i], errs[i], results[0])
			}
			if starts[i] {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d racing StartCancel started a saga, want 1", won)
		}
	})
}
