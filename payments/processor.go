package main

import (
	"context"
)

// Outcome is what a processor made of one charge attempt.
type Outcome int

const (
	// Approved: authorized and captured.
	Approved Outcome = iota + 1
	// Declined: a final answer from the issuer; retrying will not help.
	Declined
	// Failed: the processor could not decide; a later attempt may succeed.
	Failed
)

// Decision is a processor's verdict; Code is its machine-readable reason
// (card_declined, insufficient_funds, processing_error), empty when
// approved.
type Decision struct {
	Outcome Outcome
	Code    string
}

// Decline and failure codes, as the processor reports them.
const (
	CodeCardDeclined      = "card_declined"
	CodeInsufficientFunds = "insufficient_funds"
	CodeProcessingError   = "processing_error"
)

// Processor is a card processor. It authorizes and captures in one step
// and, as Stripe's API does, is idempotent on a key: payments calls it with
// the charge's idempotency key, so however often a charge is retried (by
// a caller, after a crash, by the recovery job) the card is charged at
// most once. It models an external system: payments reaches it only
// through this interface, and its state outlives any payments process.
type Processor interface {
	// Charge charges amountCents on card under key. The first final
	// decision (Approved or Declined) the processor reaches for key is its
	// answer to every later Charge with key, which then charges nothing. A
	// Failed decision is not kept: nothing moved, and a later Charge with
	// key tries again. An error means the outcome is unknown (unreachable,
	// timed out): the card may or may not have been charged; Charge again
	// with key, or Lookup, to learn which. Reusing key for another amount,
	// currency or card is an error.
	Charge(ctx context.Context, key string, card Card, amountCents int64, currency string) (Decision, error)

	// Lookup returns the final decision recorded for key, and ok false when
	// there is none: no Charge with key reached a decision (so far), and
	// no money moved under it.
	Lookup(ctx context.Context, key string) (d Decision, ok bool, err error)
}

// Test cards with a fixed outcome (API.md); every other Luhn-valid number
// is approved.
const (
	TestCardApproved          = "4242424242424242"
	TestCardDeclined          = "4000000000000002"
	TestCardInsufficientFunds = "4000000000009995"
	TestCardProcessingError   = "4000000000000119"
)
