package saga

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// MemStore is a Store in memory, for tests and single-process tools. It is
// safe for concurrent use.
type MemStore struct {
	mu    sync.Mutex
	sagas map[string]State
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{sagas: make(map[string]State)}
}

// Create stores a new saga, as the caller's own transaction would.
func (m *MemStore) Create(_ context.Context, st State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sagas[st.ID]; ok {
		return fmt.Errorf("saga %s: already exists", st.ID)
	}
	m.sagas[st.ID] = st.Clone()
	return nil
}

func (m *MemStore) Load(_ context.Context, id string) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.sagas[id]
	if !ok {
		return State{}, ErrNotFound
	}
	return st.Clone(), nil
}

func (m *MemStore) Save(_ context.Context, st *State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.sagas[st.ID]
	if !ok {
		return ErrNotFound
	}
	if cur.Version != st.Version {
		return ErrConflict
	}
	next := st.Clone()
	next.Version++
	next.LeaseOwner, next.LeaseExpiry = cur.LeaseOwner, cur.LeaseExpiry
	m.sagas[st.ID] = next
	st.Version = next.Version
	return nil
}

func (m *MemStore) Claim(_ context.Context, id, owner string, now, until time.Time) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.sagas[id]
	if !ok {
		return State{}, ErrNotFound
	}
	if st.LeaseOwner != "" && st.LeaseOwner != owner && st.LeaseExpiry.After(now) {
		return State{}, ErrLeaseHeld
	}
	st.LeaseOwner, st.LeaseExpiry = owner, until
	st.Version++
	m.sagas[id] = st
	return st.Clone(), nil
}

func (m *MemStore) Renew(_ context.Context, id, owner string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.sagas[id]
	if !ok {
		return ErrNotFound
	}
	if st.LeaseOwner != owner {
		return ErrLeaseHeld
	}
	st.LeaseExpiry = until
	m.sagas[id] = st
	return nil
}

func (m *MemStore) ListClaimable(_ context.Context, now time.Time, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var free []State
	for _, st := range m.sagas {
		if !st.Status.Final() && (st.LeaseOwner == "" || !st.LeaseExpiry.After(now)) {
			free = append(free, st)
		}
	}
	sort.Slice(free, func(i, j int) bool {
		if !free[i].UpdatedAt.Equal(free[j].UpdatedAt) {
			return free[i].UpdatedAt.Before(free[j].UpdatedAt)
		}
		return free[i].ID < free[j].ID
	})
	ids := make([]string, 0, min(limit, len(free)))
	for _, st := range free {
		if len(ids) == limit {
			break
		}
		ids = append(ids, st.ID)
	}
	return ids, nil
}
