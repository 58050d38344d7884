package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kitshop/kitshop/kit/saga"
)

// Store keeps orders, their sagas, the order event log and idempotency
// records, in one database so that every write below is one transaction.
// Sagas are stored for kit/saga through engineStore (service_saga.go),
// which adds to each save the order change the saga's new state implies.
//
// Errors are classified errs (Unavailable, Internal); the sentinels named
// below are returned as they are (errors.Is).
type Store interface {
	// CreateOrder inserts o (PENDING, with its items), the checkout saga's
	// initial state and o's first event (PENDING), in one transaction.
	// With idem non-nil it first claims (idem.UserID, idem.Key) in the
	// same transaction: when the key is already recorded, nothing is
	// written and the existing record is returned (created false), for
	// the service to replay, refuse or take over.
	CreateOrder(ctx context.Context, o Order, st saga.State, idem *IdemClaim) (existing IdemRecord, created bool, err error)

	// Order returns an order, or ErrNotFound.
	Order(ctx context.Context, id string) (Order, error)
	// Orders lists userID's orders newest first (created_at, then id,
	// both descending), strictly after the cursor when it is non-nil.
	Orders(ctx context.Context, userID string, after *OrderCursor, limit int) ([]Order, error)
	// AllOrders lists every order in id order after afterID, for the
	// consistency checker.
	AllOrders(ctx context.Context, afterID string, limit int) ([]Order, error)

	// Ship moves order id from CONFIRMED to SHIPPED with its event, in one
	// transaction, unless a cancel saga exists for it. It returns the order
	// as it then is; ErrInvalidOrderState (with the order) otherwise,
	// ErrNotFound for an unknown id.
	Ship(ctx context.Context, id string, now time.Time) (Order, error)
	// StartCancel inserts the cancel saga st for order id if the order is
	// CONFIRMED and has no cancel saga yet, in one transaction (the order
	// row locked). It returns the saga id that cancels the order: st.ID
	// when inserted, the existing one when a cancel saga already exists
	// (started false). ErrInvalidOrderState when the order is not
	// CONFIRMED and has no cancel saga; ErrNotFound for an unknown id.
	StartCancel(ctx context.Context, id string, st saga.State) (sagaID string, started bool, err error)

	// Saga persistence for kit/saga (see saga.Store for the contract of
	// each). SaveSaga also applies change (nil: none) in the same
	// transaction: the saga and the order never disagree.
	LoadSaga(ctx context.Context, id string) (saga.State, error)
	SaveSaga(ctx context.Context, st *saga.State, change *OrderChange) error
	ClaimSaga(ctx context.Context, id, owner string, now, until time.Time) (saga.State, error)
	RenewSaga(ctx context.Context, id, owner string, until time.Time) error
	ListClaimableSagas(ctx context.Context, now time.Time, limit int) ([]string, error)
	// Sagas lists sagas matching filter, most recently updated first.
	Sagas(ctx context.Context, filter SagaFilter, limit int) ([]SagaRecord, error)
	// CreateSaga inserts a saga with no order change: for the saga store
	// contract suite (sagatest) only.
	CreateSaga(ctx context.Context, st saga.State) error

	// Idempotency records. CompleteIdempotent stores the answer to
	// (userID, key) and marks it complete; LockIdempotent extends the
	// lock of an in-progress record if it has expired at now (taken
	// false otherwise). PurgeIdempotent deletes records expired at now.
	CompleteIdempotent(ctx context.Context, userID, key string, response json.RawMessage, now time.Time) error
	LockIdempotent(ctx context.Context, userID, key string, now, until time.Time) (rec IdemRecord, taken bool, err error)
	PurgeIdempotent(ctx context.Context, now time.Time) (int, error)

	// The order event stream. Every status change is written to the
	// outbox in the transaction that makes it (CreateOrder, SaveSaga,
	// Ship). RelayEvents moves up to limit outbox entries, in the order
	// they were written, to the append-only event log, giving each the
	// next offset; one relay runs at a time across instances (others
	// return 0 at once), so offsets are dense and a reader never sees
	// offset n+1 before n. It returns how many it moved.
	RelayEvents(ctx context.Context, limit int) (int, error)
	// Events returns up to limit log entries with offset > after, in
	// offset order; with orderID set, only that order's.
	Events(ctx context.Context, after int64, orderID string, limit int) ([]Event, error)
	// WaitEvents blocks until the log may have grown past after (a
	// notification from any instance's relay), ctx ends, or the poll
	// interval passes: a hint, never a guarantee; callers read Events.
	WaitEvents(ctx context.Context, after int64) error
	// ConsumeEvents hands consumer's next batch (up to limit entries
	// after its stored offset) to handle, and in one transaction stores
	// the notifications handle returns and the consumer's new offset, so
	// a consumer that was down catches up with no gap and no duplicate.
	// It returns how many entries it handed (0: caught up).
	ConsumeEvents(ctx context.Context, consumer string, limit int, handle func(batch []Event) ([]Notification, error)) (int, error)
	// Notifications lists stored notifications with offset > after.
	Notifications(ctx context.Context, after int64, limit int) ([]Notification, error)
	// ConsumerOffset is consumer's stored offset (0 when it never ran).
	ConsumerOffset(ctx context.Context, consumer string) (int64, error)

	// Close releases the store.
	Close() error
}

// OrderCursor is a keyset position in a user's order list.
type OrderCursor struct {
	CreatedAt time.Time `json:"c"`
	ID        string    `json:"i"`
}

// OrderChange is what a saga transition changes in its order, written in
// the transaction that saves the saga. Zero fields change nothing.
type OrderChange struct {
	OrderID string
	// Status, when set and different from the stored one, becomes the
	// order's status and appends an event to the outbox.
	Status        Status
	FailureReason string
	PaymentID     string
	// Items, when non-nil, replaces the items' prices (matched by
	// product id) with the reservation's; TotalCents and Currency come
	// with them.
	Items      []Item
	TotalCents int64
	Currency   string
	Now        time.Time
}

// IdemClaim claims an idempotency key for a new order.
type IdemClaim struct {
	UserID      string
	Key         string
	Fingerprint string
	// LockedUntil is when the claiming request is presumed dead, so that
	// a repeat may take the record over; ExpiresAt is when it is purged.
	LockedUntil time.Time
	ExpiresAt   time.Time
}

// IdemRecord is a stored idempotency key.
type IdemRecord struct {
	UserID, Key, Fingerprint string
	OrderID                  string
	// Response is the answer to replay once Complete.
	Complete    bool
	Response    json.RawMessage
	LockedUntil time.Time
	ExpiresAt   time.Time
	CreatedAt   time.Time
}

// SagaRecord is a stored saga with the order it works for.
type SagaRecord struct {
	OrderID string
	Kind    string
	State   saga.State
}

// Event is one entry of the order event log.
type Event struct {
	Offset    int64
	OrderID   string
	UserID    string
	Status    Status
	Reason    string
	CreatedAt time.Time
}

// Notification is what the notification worker (the order event stream's
// consumer in this process) makes of an event: the message a customer
// would be sent. Offset is the event's, which makes it unique.
type Notification struct {
	Offset    int64
	OrderID   string
	UserID    string
	Kind      string
	Message   string
	CreatedAt time.Time
}
