package main

import "context"

// Store keeps user accounts. Emails are stored normalized (lower case) and
// are unique.
type Store interface {
	// Create inserts u. ErrEmailTaken if the email is in use.
	Create(ctx context.Context, u User) error
	// Get returns the user with id, or ErrNotFound.
	Get(ctx context.Context, id string) (User, error)
	// GetByEmail returns the user with email, or ErrNotFound.
	GetByEmail(ctx context.Context, email string) (User, error)
	// Update applies change to user id atomically: no other Update of the
	// same user interleaves. An error from change aborts with nothing
	// written and is returned as is. ErrNotFound if there is no such user.
	Update(ctx context.Context, id string, change func(*User) error) (User, error)
	// Close releases the store's resources.
	Close() error
}
