package main

import (
	"context"
	"errors"
	"time"
)

// Store keeps payments and their append-only ledger. Payments are never
// deleted and ledger entries never change.
//
// WriteCharge and Refund take a decide function instead of a finished
// record: the store calls it while it holds the charge's key (or the
// payment) exclusively, with the state as it then stands, and writes what
// decide returns atomically. That is what makes a repeated or concurrent
// request see the first one's result instead of recording it twice. The
// rules about what to write live in decide, in the service; decide must
// be quick and must not call out of the process (the processor least of
// all): it runs inside a database transaction.
//
// "Once" below is per transaction: should the store have to run the
// transaction again (a lost serialization race), decide runs again, with
// the state as it then stands, and only the last run's change is written.
type Store interface {
	// WriteCharge serializes every write to the charge under key. It calls
	// decide once, with the payment already recorded under key (nil when
	// none), while no other WriteCharge for key can run. decide returns:
	//   - (change, nil): the store writes change.Payment (inserting it when
	//     existing was nil, else updating only its status, decline code and
	//     updated_at) and appends change.Event, in one transaction, and
	//     returns the payment as stored;
	//   - (nil, nil): nothing is written; WriteCharge returns existing
	//     (which must then be non-nil);
	//   - (_, err): nothing is written; WriteCharge returns err.
	// Storage failures are classified errs (Unavailable, Internal).
	WriteCharge(ctx context.Context, key string, decide func(existing *Payment) (*Change, error)) (Payment, error)

	// Refund serializes every refund of payment id. It calls decide once,
	// with the payment as it stands and the refund already recorded under
	// key for any payment (nil when none), while no other Refund of this
	// payment can run. decide's results mean what they mean for
	// WriteCharge, except that change.Payment always updates (status,
	// refunded_cents, updated_at). An unknown id is ErrNotFound, before
	// decide is called. Should key be taken by a concurrent refund of
	// another payment between the lookup and the write, Refund returns
	// ErrIdempotencyKeyReused.
	Refund(ctx context.Context, id, key string, decide func(p Payment, prior *Event) (*Change, error)) (Payment, error)

	// Payment returns the payment with the given id, or ErrNotFound.
	Payment(ctx context.Context, id string) (Payment, error)

	// ChargeByKey returns the payment recorded for a charge's idempotency
	// key, or ErrChargeNotFound.
	ChargeByKey(ctx context.Context, key string) (Payment, error)

	// Pending returns up to limit PENDING payments last updated before
	// cutoff, least recently updated first: the charges the recovery job
	// must settle.
	Pending(ctx context.Context, cutoff time.Time, limit int) ([]Payment, error)

	// ListPayments returns up to q.Limit payments in (created_at, id)
	// order, strictly after q.After when it is set, of q.OrderID only when
	// that is set.
	ListPayments(ctx context.Context, q PaymentQuery) ([]Payment, error)

	// Events returns a payment's ledger in the order it was written; an
	// unknown id has none.
	Events(ctx context.Context, paymentID string) ([]Event, error)

	// Close releases the store's resources.
	Close() error
}

// Change is one state change of a payment: its new state and the ledger
// entry that records why.
type Change struct {
	Payment Payment
	Event   Event
}

// Programming errors a store reports as Internal rather than writing a
// record that breaks the ledger's invariants.
var (
	errNoChange    = errors.New("decide returned no change for a key with no payment")
	errDuplicateID = errors.New("payment id already exists")
	errRefundRange = errors.New("refunded amount outside [0, amount]")
)
