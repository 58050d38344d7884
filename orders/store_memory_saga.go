package main

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/saga"
)

func (m *memoryStore) CreateSaga(_ context.Context, st saga.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sagas[st.ID]; ok {
		return errDuplicate("saga", st.ID)
	}
	m.sagas[st.ID] = memSaga{kind: sagaKind(st.Definition), state: st.Clone()}
	return nil
}

func (m *memoryStore) LoadSaga(_ context.Context, id string) (saga.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sagas[id]
	if !ok {
		return saga.State{}, saga.ErrNotFound
	}
	return s.state.Clone(), nil
}

func (m *memoryStore) SaveSaga(_ context.Context, st *saga.State, change *OrderChange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.sagas[st.ID]
	if !ok {
		return saga.ErrNotFound
	}
	if cur.state.Version != st.Version {
		return saga.ErrConflict
	}
	// Check the change before writing anything: all or nothing.
	var order Order
	if change != nil {
		id, ok := canonID(change.OrderID)
		if order, ok = m.orders[id]; !ok {
			return errs.Internalf(nil, "orders: saga change for order %q, which does not exist", change.OrderID)
		}
	}
	next := st.Clone()
	next.Version++
	next.LeaseOwner, next.LeaseExpiry = cur.state.LeaseOwner, cur.state.LeaseExpiry
	cur.state = next
	m.sagas[st.ID] = cur
	st.Version = next.Version
	if change != nil {
		m.applyChange(order, change)
	}
	return nil
}

// applyChange applies c to o as saveSagaAndOrderSQL does in Postgres:
// zero fields change nothing, prices are matched by product id, an order
// the change leaves as it was keeps its updated_at, and a new status
// appends its event to the outbox.
func (m *memoryStore) applyChange(o Order, c *OrderChange) {
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	next := copyOrder(o)
	if c.Status != "" {
		next.Status = c.Status
	}
	if c.FailureReason != "" {
		next.FailureReason = c.FailureReason
	}
	if c.PaymentID != "" {
		next.PaymentID = c.PaymentID
	}
	if c.Items != nil {
		next.TotalCents, next.Currency = c.TotalCents, c.Currency
		for i, it := range next.Items {
			for _, p := range c.Items {
				if p.ProductID == it.ProductID {
					next.Items[i].UnitPriceCents = p.UnitPriceCents
					next.Items[i].LineTotalCents = it.Quantity * p.UnitPriceCents
				}
			}
		}
	}
	next.UpdatedAt = o.UpdatedAt
	if orderEqual(next, o) {
		return
	}
	next.UpdatedAt = dbTime(now)
	m.orders[o.ID] = next
	if next.Status != o.Status {
		m.appendOutbox(o.ID, o.UserID, next.Status, next.FailureReason, now)
	}
}

func orderEqual(a, b Order) bool {
	return slices.Equal(a.Items, b.Items) && reflect.DeepEqual(orderFields(a), orderFields(b))
}

// orderFields is o without its items, which make Order incomparable.
func orderFields(o Order) Order {
	o.Items = nil
	return o
}

func (m *memoryStore) ClaimSaga(_ context.Context, id, owner string, now, until time.Time) (saga.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sagas[id]
	if !ok {
		return saga.State{}, saga.ErrNotFound
	}
	st := &s.state
	if st.LeaseOwner != "" && st.LeaseOwner != owner && st.LeaseExpiry.After(now) {
		return saga.State{}, saga.ErrLeaseHeld
	}
	st.LeaseOwner, st.LeaseExpiry = owner, dbTime(until)
	st.Version++
	m.sagas[id] = s
	return st.Clone(), nil
}

func (m *memoryStore) RenewSaga(_ context.Context, id, owner string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sagas[id]
	if !ok {
		return saga.ErrNotFound
	}
	if s.state.LeaseOwner != owner {
		return saga.ErrLeaseHeld
	}
	s.state.LeaseExpiry = dbTime(until)
	m.sagas[id] = s
	return nil
}

func (m *memoryStore) ListClaimableSagas(_ context.Context, now time.Time, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var free []saga.State
	for _, s := range m.sagas {
		st := s.state
		if !st.Status.Final() && (st.LeaseOwner == "" || !st.LeaseExpiry.After(now)) {
			free = append(free, st)
		}
	}
	slices.SortFunc(free, func(a, b saga.State) int { return byUpdated(a, b) })
	ids := make([]string, 0, min(max(limit, 0), len(free)))
	for _, st := range free[:min(max(limit, 0), len(free))] {
		ids = append(ids, st.ID)
	}
	return ids, nil
}

// byUpdated orders sagas oldest update first, then by id.
func byUpdated(a, b saga.State) int {
	if d := dbTime(a.UpdatedAt).Compare(dbTime(b.UpdatedAt)); d != 0 {
		return d
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

func (m *memoryStore) Sagas(_ context.Context, filter SagaFilter, limit int) ([]SagaRecord, error) {
	statuses, ok := sagaStatuses[filter]
	if !ok {
		return nil, errSagaFilter(filter)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SagaRecord
	for _, s := range m.sagas {
		if slices.Contains(statuses, string(s.state.Status)) {
			out = append(out, SagaRecord{OrderID: s.orderID, Kind: s.kind, State: s.state.Clone()})
		}
	}
	slices.SortFunc(out, func(a, b SagaRecord) int { return byUpdated(b.State, a.State) })
	return out[:min(max(limit, 0), len(out))], nil
}
