package main

import (
	"context"
	"sync"
)

// memoryStore is the embedded default: no database, nothing survives a
// restart.
type memoryStore struct {
	mu      sync.RWMutex
	byID    map[string]User
	byEmail map[string]string
}

func newMemoryStore() *memoryStore {
	return &memoryStore{byID: map[string]User{}, byEmail: map[string]string{}}
}

func (m *memoryStore) Create(_ context.Context, u User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.byEmail[u.Email]; taken {
		return ErrEmailTaken
	}
	m.byID[u.ID] = clone(u)
	m.byEmail[u.Email] = u.ID
	return nil
}

func (m *memoryStore) Get(_ context.Context, id string) (User, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.byID[id]
	if !ok {
		return User{}, ErrNotFound
	}
	return clone(u), nil
}

func (m *memoryStore) GetByEmail(ctx context.Context, email string) (User, error) {
	m.mu.RLock()
	id, ok := m.byEmail[email]
	m.mu.RUnlock()
	if !ok {
		return User{}, ErrNotFound
	}
	return m.Get(ctx, id)
}

func (m *memoryStore) Update(_ context.Context, id string, change func(*User) error) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.byID[id]
	if !ok {
		return User{}, ErrNotFound
	}
	u = clone(u)
	if err := change(&u); err != nil {
		return User{}, err
	}
	m.byID[id] = u
	return clone(u), nil
}

func (m *memoryStore) Close() error { return nil }

// clone keeps callers from mutating stored values through shared pointers.
func clone(u User) User {
	if u.Address != nil {
		a := *u.Address
		u.Address = &a
	}
	u.PasswordHash = append([]byte(nil), u.PasswordHash...)
	return u
}
