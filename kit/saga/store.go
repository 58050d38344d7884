package saga

import (
	"context"
	"errors"
	"time"
)

// Store persists saga states. The engine never creates a saga: the caller
// persists NewState's result itself, typically in the same transaction as
// the row the saga works for, and then calls Engine.Run. sagatest has the
// contract suite every implementation must pass.
type Store interface {
	// Load returns the saga's state, or ErrNotFound.
	Load(ctx context.Context, id string) (State, error)
	// Save replaces the saga's state if its stored Version still equals
	// st.Version, and then increments st.Version to match; otherwise it
	// returns ErrConflict and changes nothing. It leaves the stored lease
	// fields as they are: only Claim and Renew change those.
	Save(ctx context.Context, st *State) error
	// Claim gives the saga to owner until until, if nobody else holds a
	// lease that is live at now; otherwise it returns ErrLeaseHeld. A claim
	// increments Version, so that a previous holder's next Save conflicts:
	// that is what fences an instance that lost its lease. It returns the
	// state as claimed.
	Claim(ctx context.Context, id, owner string, now, until time.Time) (State, error)
	// Renew extends owner's lease to until, without changing Version. It
	// returns ErrLeaseHeld when owner no longer holds the lease.
	Renew(ctx context.Context, id, owner string, until time.Time) error
	// ListClaimable returns up to limit ids of sagas that are not final and
	// whose lease is free or expired at now, oldest update first.
	ListClaimable(ctx context.Context, now time.Time, limit int) ([]string, error)
}

var (
	// ErrNotFound: no saga has this id.
	ErrNotFound = errors.New("saga: not found")
	// ErrConflict: the saga was saved or claimed since it was loaded.
	ErrConflict = errors.New("saga: version conflict")
	// ErrLeaseHeld: another owner holds a live lease on the saga.
	ErrLeaseHeld = errors.New("saga: lease held by another owner")
	// ErrLeaseLost: the engine lost the saga's lease while driving it and
	// stopped; the new holder goes on from what was persisted.
	ErrLeaseLost = errors.New("saga: lease lost while driving")
	// ErrParked: a step's peer stayed unreachable past the step's retries
	// while the saga was younger than its definition's Patience; the saga
	// is left as it was, to be resumed later (see Config.ParkFor).
	ErrParked = errors.New("saga: parked until its peer is reachable")
)
