package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, kittest.RemoveBuilds) }

func TestStoreMemory(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return newMemoryStore() })
}

func TestStorePostgres(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		s, err := openPostgresStore(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatalf("open postgres store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func newTestUser(email string) User {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return User{ID: uuid.NewString(), Email: email, Name: "Ada", Role: "customer",
		PasswordHash: []byte("hash"), CreatedAt: now, UpdatedAt: now}
}

// testStore is the one contract every Store implementation must meet.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("create then get by id and email", func(t *testing.T) {
		s := newStore(t)
		u := newTestUser("ada@example.com")
		u.Address = &Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != u.Email || got.Address == nil || *got.Address != *u.Address ||
			string(got.PasswordHash) != "hash" || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("got %+v, want %+v", got, u)
		}
		byEmail, err := s.GetByEmail(ctx, u.Email)
		if err != nil || byEmail.ID != u.ID {
			t.Fatalf("GetByEmail = %+v, %v", byEmail, err)
		}
	})

	t.Run("missing user is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, uuid.NewString()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		if _, err := s.GetByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetByEmail: %v", err)
		}
		_, err := s.Update(ctx, uuid.NewString(), func(*User) error { return nil })
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Update: %v", err)
		}
	})

	t.Run("duplicate email is ErrEmailTaken", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(ctx, newTestUser("dup@example.com")); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, newTestUser("dup@example.com")); !errors.Is(err, ErrEmailTaken) {
			t.Fatalf("second create: %v", err)
		}
	})

	t.Run("concurrent creates with one email: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		results := make(chan error, 10)
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- s.Create(ctx, newTestUser("race@example.com"))
			}()
		}
		wg.Wait()
		close(results)
		ok := 0
		for err := range results {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrEmailTaken):
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d creates succeeded, want 1", ok)
		}
	})

	t.Run("update applies change and clears address", func(t *testing.T) {
		s := newStore(t)
		u := newTestUser("upd@example.com")
		u.Address = &Address{Line1: "x", City: "y", PostalCode: "z", Country: "US"}
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := s.Update(ctx, u.ID, func(u *User) error {
			u.Name, u.Address, u.Role = "Grace", nil, "admin"
			return nil
		})
		if err != nil || got.Name != "Grace" || got.Address != nil || got.Role != "admin" {
			t.Fatalf("Update = %+v, %v", got, err)
		}
		again, _ := s.Get(ctx, u.ID)
		if again.Name != "Grace" || again.Address != nil || again.Role != "admin" {
			t.Fatalf("not persisted: %+v", again)
		}
	})

	t.Run("failed change writes nothing", func(t *testing.T) {
		s := newStore(t)
		u := newTestUser("abort@example.com")
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		_, err := s.Update(ctx, u.ID, func(u *User) error { u.Name = "changed"; return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Update err = %v", err)
		}
		if got, _ := s.Get(ctx, u.ID); got.Name != "Ada" {
			t.Fatalf("aborted change persisted: %q", got.Name)
		}
	})

	t.Run("concurrent updates do not lose writes", func(t *testing.T) {
		s := newStore(t)
		u := newTestUser("counter@example.com")
		u.Name = ""
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Update(ctx, u.ID, func(u *User) error { u.Name += "x"; return nil }); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got, _ := s.Get(ctx, u.ID); len(got.Name) != 20 {
			t.Fatalf("lost updates: name has %d marks, want 20", len(got.Name))
		}
	})

	t.Run("returned values are copies", func(t *testing.T) {
		s := newStore(t)
		u := newTestUser("copy@example.com")
		u.Address = &Address{Line1: "a", City: "b", PostalCode: "c", Country: "US"}
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		u.Address.City = "mutated"
		got, _ := s.Get(ctx, u.ID)
		got.Address.City = "mutated again"
		if again, _ := s.Get(ctx, u.ID); again.Address.City != "b" {
			t.Fatalf("store shares memory with callers: %q", again.Address.City)
		}
	})
}
