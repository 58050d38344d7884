package main

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// memoryStore is the in-memory Store: the default without a database. One
// mutex serializes every write, which gives the same atomicity and
// per-key exclusivity as the Postgres store's transactions and locks.
type memoryStore struct {
	mu         sync.Mutex
	payments   map[string]Payment // by id
	byKey      map[string]string  // charge idempotency key -> payment id
	events     map[string][]Event // by payment id
	refundKeys map[string]Event   // refund idempotency key -> its event
}

func newMemoryStore() *memoryStore {
	return &memoryStore{
		payments:   map[string]Payment{},
		byKey:      map[string]string{},
		events:     map[string][]Event{},
		refundKeys: map[string]Event{},
	}
}

func (m *memoryStore) WriteCharge(ctx context.Context, key string, decide func(*Payment) (*Change, error)) (Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Payment{}, errs.As(err)
	}
	var existing *Payment
	if id, ok := m.byKey[key]; ok {
		p := m.payments[id]
		existing = &p
	}
	change, err := decide(existing)
	if err != nil {
		return Payment{}, err
	}
	if change == nil {
		if existing == nil {
			return Payment{}, errs.Internalf(errNoChange, "payments: charge %q", key)
		}
		return *existing, nil
	}
	p := change.Payment
	if existing != nil {
		// Only the outcome of a retried attempt changes; the charge's
		// identity stays as first recorded.
		q := *existing
		q.Status, q.DeclineCode, q.UpdatedAt = p.Status, p.DeclineCode, p.UpdatedAt
		p = q
	} else {
		if _, taken := m.payments[p.ID]; taken {
			return Payment{}, errs.Internalf(errDuplicateID, "payments: charge %q", key)
		}
		p.IdempotencyKey = key
		m.byKey[key] = p.ID
	}
	m.payments[p.ID] = p
	m.appendEvent(change.Event, p.ID)
	return p, nil
}

func (m *memoryStore) Refund(ctx context.Context, id, key string, decide func(Payment, *Event) (*Change, error)) (Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Payment{}, errs.As(err)
	}
	p, ok := m.payments[id]
	if !ok {
		return Payment{}, ErrNotFound
	}
	var prior *Event
	if ev, ok := m.refundKeys[key]; ok {
		prior = &ev
	}
	change, err := decide(p, prior)
	if err != nil {
		return Payment{}, err
	}
	if change == nil {
		return p, nil
	}
	q := change.Payment
	if q.RefundedCents < 0 || q.RefundedCents > p.AmountCents {
		// The Postgres store's CHECK constraint refuses this too.
		return Payment{}, errs.Internalf(errRefundRange, "payments: refund %s", id)
	}
	p.Status, p.RefundedCents, p.UpdatedAt = q.Status, q.RefundedCents, q.UpdatedAt
	m.payments[id] = p
	ev := m.appendEvent(change.Event, id)
	m.refundKeys[key] = ev
	return p, nil
}

// appendEvent records ev as an entry of payment id and returns it as
// stored.
func (m *memoryStore) appendEvent(ev Event, id string) Event {
	ev.PaymentID = id
	m.events[id] = append(m.events[id], ev)
	return ev
}

func (m *memoryStore) Payment(ctx context.Context, id string) (Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.payments[id]
	if !ok {
		return Payment{}, ErrNotFound
	}
	return p, nil
}

func (m *memoryStore) ChargeByKey(ctx context.Context, key string) (Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byKey[key]
	if !ok {
		return Payment{}, ErrChargeNotFound
	}
	return m.payments[id], nil
}

func (m *memoryStore) Pending(ctx context.Context, cutoff time.Time, limit int) ([]Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Payment
	for _, p := range m.payments {
		if p.Status == StatusPending && p.UpdatedAt.Before(cutoff) {
			out = append(out, p)
		}
	}
	// The Postgres store's order: oldest first, ties by id.
	slices.SortFunc(out, func(a, b Payment) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ListPayments sorts every payment on each call: the memory store is for
// running without a database, where payments are few.
func (m *memoryStore) ListPayments(ctx context.Context, q PaymentQuery) ([]Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Payment
	for _, p := range m.payments {
		if q.OrderID != "" && p.OrderID != q.OrderID {
			continue
		}
		if q.After != nil && comparePayment(p, *q.After) <= 0 {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Payment) int {
		return comparePayment(a, PaymentCursor{CreatedAt: b.CreatedAt, ID: b.ID})
	})
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// comparePayment orders p against a cursor as the Postgres store's
// (created_at, id) row comparison does; canonical ids compare as uuids do.
func comparePayment(p Payment, c PaymentCursor) int {
	return cmp.Or(p.CreatedAt.Compare(c.CreatedAt), cmp.Compare(p.ID, c.ID))
}

func (m *memoryStore) Events(ctx context.Context, paymentID string) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events[paymentID]), nil
}

func (m *memoryStore) Close() error { return nil }
