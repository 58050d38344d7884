package main

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/kitshop/kitshop/kit/errs"
)

func (m *memoryStore) RelayEvents(_ context.Context, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := min(max(limit, 0), len(m.outbox))
	if n == 0 {
		return 0, nil
	}
	for _, ev := range m.outbox[:n] {
		ev.Offset = int64(len(m.log)) + 1
		m.log = append(m.log, ev)
	}
	m.outbox = slices.Delete(m.outbox, 0, n)
	close(m.wake)
	m.wake = make(chan struct{})
	return n, nil
}

// eventsAfter is up to limit log entries after offset (of orderID when
// set); m.mu is held.
func (m *memoryStore) eventsAfter(after int64, orderID string, limit int) []Event {
	var out []Event
	for _, ev := range m.log[min(max(after, 0), int64(len(m.log))):] {
		if len(out) >= limit {
			break
		}
		if orderID == "" || ev.OrderID == orderID {
			out = append(out, ev)
		}
	}
	return out
}

func (m *memoryStore) Events(_ context.Context, after int64, orderID string, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if orderID != "" {
		id, ok := canonID(orderID)
		if !ok {
			return nil, nil
		}
		orderID = id
	}
	return m.eventsAfter(after, orderID, limit), nil
}

// WaitEvents returns at once when the log already holds an entry past
// after, else when the next relay appends one or ctx ends.
func (m *memoryStore) WaitEvents(ctx context.Context, after int64) error {
	m.mu.Lock()
	grown, wake := int64(len(m.log)) > after, m.wake
	m.mu.Unlock()
	if grown {
		return ctx.Err()
	}
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *memoryStore) ConsumeEvents(ctx context.Context, consumer string, limit int, handle func(batch []Event) ([]Notification, error)) (int, error) {
	// The consumer's own lock, held across handle as Postgres holds the
	// consumer's row lock: a second worker under the same name waits and
	// then starts where this one left off. m.mu is not held while handle
	// runs, so handle may use the store.
	lock := m.consumerLock(consumer)
	select {
	case lock <- struct{}{}:
		defer func() { <-lock }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	m.mu.Lock()
	batch := m.eventsAfter(m.consumers[consumer], "", max(limit, 0))
	m.mu.Unlock()
	if len(batch) == 0 {
		return 0, nil
	}
	notes, err := handle(slices.Clone(batch))
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Check everything first, so that a refused batch writes nothing: the
	// checks are those of notifications' primary and foreign keys.
	seen := map[int64]bool{}
	for _, n := range notes {
		if _, dup := slices.BinarySearchFunc(m.notes, n.Offset, byOffset); dup || seen[n.Offset] {
			return 0, errDuplicate("notification for event", strconv.FormatInt(n.Offset, 10))
		}
		if n.Offset < 1 || n.Offset > int64(len(m.log)) {
			return 0, errs.Internalf(nil, "orders: notification for event %d, which does not exist", n.Offset)
		}
		seen[n.Offset] = true
	}
	for _, n := range notes {
		n.CreatedAt = dbTime(n.CreatedAt)
		i, _ := slices.BinarySearchFunc(m.notes, n.Offset, byOffset)
		m.notes = slices.Insert(m.notes, i, n)
	}
	m.consumers[consumer] = batch[len(batch)-1].Offset
	return len(batch), nil
}

// consumerLock is consumer's lock, made on first use: a channel holding
// one token while taken, so that waiting for it ends with ctx.
func (m *memoryStore) consumerLock(consumer string) chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.consumerLocks[consumer]
	if !ok {
		l = make(chan struct{}, 1)
		m.consumerLocks[consumer] = l
	}
	return l
}

func (m *memoryStore) Notifications(_ context.Context, after int64, limit int) ([]Notification, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, _ := slices.BinarySearchFunc(m.notes, after+1, byOffset)
	rest := m.notes[i:]
	return slices.Clone(rest[:min(max(limit, 0), len(rest))]), nil
}

func (m *memoryStore) ConsumerOffset(_ context.Context, consumer string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.consumers[consumer], nil
}

func byOffset(n Notification, offset int64) int { return cmp.Compare(n.Offset, offset) }
