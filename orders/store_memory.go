package main

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/saga"
)

// memoryStore is the Store in memory: the embedded default for `go run`
// without a database, and the reference the contract suite holds the
// Postgres store to. One mutex makes every method one transaction; values
// are deep-copied in and out, so callers never share memory with it.
// Times are kept as Postgres keeps them (UTC, whole microseconds), so both
// stores order and page alike.
type memoryStore struct {
	mu     sync.Mutex
	orders map[string]Order
	sagas  map[string]memSaga
	// cancels maps an order id to its cancel saga's id.
	cancels map[string]string
	outbox  []Event // Offset unset until relayed
	log     []Event // log[i].Offset == i+1
	// wake is closed, and replaced, on every append to log.
	wake      chan struct{}
	consumers map[string]int64
	// consumerLocks serialize each consumer's batches (see ConsumeEvents).
	consumerLocks map[string]chan struct{}
	notes         []Notification // ordered by Offset
	idem          map[idemID]IdemRecord
}

type memSaga struct {
	orderID, kind string
	state         saga.State
}

type idemID struct{ userID, key string }

func newMemoryStore() *memoryStore {
	return &memoryStore{
		orders:        map[string]Order{},
		sagas:         map[string]memSaga{},
		cancels:       map[string]string{},
		wake:          make(chan struct{}),
		consumers:     map[string]int64{},
		consumerLocks: map[string]chan struct{}{},
		idem:          map[idemID]IdemRecord{},
	}
}

var _ Store = (*memoryStore)(nil)

// dbTime is t as a timestamptz column gives it back.
func dbTime(t time.Time) time.Time { return t.Round(time.Microsecond).UTC() }

func copyOrder(o Order) Order {
	o.Items = slices.Clone(o.Items)
	if o.Items == nil {
		o.Items = []Item{}
	}
	return o
}

func (m *memoryStore) CreateOrder(_ context.Context, o Order, st saga.State, idem *IdemClaim) (IdemRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := canonID(o.ID)
	if !ok {
		return IdemRecord{}, false, errInvalidID("order", o.ID)
	}
	o.ID = id
	if err := m.checkNewOrder(o, st); err != nil {
		return IdemRecord{}, false, err
	}
	o = copyOrder(o)
	o.CreatedAt, o.UpdatedAt = dbTime(o.CreatedAt), dbTime(o.UpdatedAt)
	if idem != nil {
		rec, claimed, err := m.claimIdem(o, idem)
		if err != nil || !claimed {
			return rec, false, err
		}
	}
	m.orders[o.ID] = o
	m.sagas[st.ID] = memSaga{orderID: o.ID, kind: "checkout", state: st.Clone()}
	m.appendOutbox(o.ID, o.UserID, o.Status, o.FailureReason, o.CreatedAt)
	return IdemRecord{}, true, nil
}

// checkNewOrder refuses what the Postgres constraints refuse.
func (m *memoryStore) checkNewOrder(o Order, st saga.State) error {
	if _, ok := m.orders[o.ID]; ok {
		return errDuplicate("order", o.ID)
	}
	if _, ok := m.sagas[st.ID]; ok {
		return errDuplicate("saga", st.ID)
	}
	if _, ok := canonID(o.UserID); !ok {
		return errInvalidID("user", o.UserID)
	}
	seen := map[string]bool{}
	for _, it := range o.Items {
		p, ok := canonID(it.ProductID)
		if !ok {
			return errInvalidID("product", it.ProductID)
		}
		if seen[p] {
			return errDuplicateItem
		}
		seen[p] = true
	}
	return nil
}

func (m *memoryStore) appendOutbox(orderID, userID string, status Status, reason string, at time.Time) {
	m.outbox = append(m.outbox, Event{OrderID: orderID, UserID: userID, Status: status, Reason: reason,
		CreatedAt: dbTime(at)})
}

func (m *memoryStore) Order(_ context.Context, id string) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, _ = canonID(id)
	o, ok := m.orders[id]
	if !ok {
		return Order{}, ErrNotFound
	}
	return copyOrder(o), nil
}

func (m *memoryStore) Orders(_ context.Context, userID string, after *OrderCursor, limit int) ([]Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	userID, ok := canonID(userID)
	if !ok || limit <= 0 {
		return nil, nil
	}
	var cursor OrderCursor
	if after != nil {
		id, ok := canonID(after.ID)
		if !ok {
			return nil, errInvalidID("page cursor", after.ID)
		}
		cursor = OrderCursor{CreatedAt: dbTime(after.CreatedAt), ID: id}
	}
	var out []Order
	for _, o := range m.orders {
		if o.UserID == userID && (after == nil || newerFirst(cursor, o) < 0) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Order) int { return newerFirst(OrderCursor{a.CreatedAt, a.ID}, b) })
	return copyOrders(out[:min(limit, len(out))]), nil
}

// newerFirst compares c with o's position in a newest-first list:
// negative when c comes before o.
func newerFirst(c OrderCursor, o Order) int {
	if d := o.CreatedAt.Compare(c.CreatedAt); d != 0 {
		return d
	}
	switch {
	case o.ID > c.ID:
		return 1
	case o.ID < c.ID:
		return -1
	}
	return 0
}

func copyOrders(os []Order) []Order {
	out := make([]Order, len(os))
	for i, o := range os {
		out[i] = copyOrder(o)
	}
	return out
}

func (m *memoryStore) AllOrders(_ context.Context, afterID string, limit int) ([]Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if limit <= 0 {
		return nil, nil
	}
	if afterID != "" {
		id, ok := canonID(afterID)
		if !ok {
			return nil, errInvalidID("afterID", afterID)
		}
		afterID = id
	}
	var out []Order
	for id, o := range m.orders {
		if id > afterID {
			out = append(out, o)
		}
	}
	// Canonical UUIDs sort as strings as Postgres sorts uuids.
	slices.SortFunc(out, func(a, b Order) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return copyOrders(out[:min(limit, len(out))]), nil
}

func (m *memoryStore) Ship(_ context.Context, id string, now time.Time) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, _ = canonID(id)
	o, ok := m.orders[id]
	if !ok {
		return Order{}, ErrNotFound
	}
	if _, cancelling := m.cancels[id]; o.Status != StatusConfirmed || cancelling {
		return Order{}, failedWith(ErrInvalidOrderState, copyOrder(o))
	}
	o.Status, o.UpdatedAt = StatusShipped, dbTime(now)
	m.orders[id] = o
	m.appendOutbox(id, o.UserID, o.Status, "", now)
	return copyOrder(o), nil
}

func (m *memoryStore) StartCancel(_ context.Context, id string, st saga.State) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, _ = canonID(id)
	o, ok := m.orders[id]
	if !ok {
		return "", false, ErrNotFound
	}
	if sagaID, ok := m.cancels[id]; ok {
		return sagaID, false, nil
	}
	if o.Status != StatusConfirmed {
		return "", false, failedWith(ErrInvalidOrderState, copyOrder(o))
	}
	if _, ok := m.sagas[st.ID]; ok {
		return "", false, errDuplicate("saga", st.ID)
	}
	m.sagas[st.ID] = memSaga{orderID: id, kind: "cancel", state: st.Clone()}
	m.cancels[id] = st.ID
	return st.ID, true, nil
}

// Close has nothing to release; the store stays usable, like a closed
// pool's data stays in its database.
func (m *memoryStore) Close() error { return nil }

// errInvalidID and errDuplicate are what Postgres' casts and primary keys
// make of such writes: bugs of the caller, not of the request.
func errInvalidID(what, id string) error {
	return errs.Internalf(nil, "orders: %s id %q is not a UUID", what, id)
}

func errDuplicate(what, id string) error {
	return errs.Internalf(nil, "orders: %s %s already exists", what, id)
}
