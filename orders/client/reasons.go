// Package client is what a caller of the orders service needs, without
// importing the service itself.
package client

// Reasons the orders service returns, as google.rpc.ErrorInfo reason over
// gRPC and as the problem+json "code" over HTTP. Orders also returns the
// platform-wide reasons of kit/errs (VALIDATION_FAILED, NOT_FOUND,
// IDEMPOTENCY_KEY_REUSED, ...) and passes on users' USER_DISABLED.
//
// This file imports nothing, so any package may depend on it.
const (
	// ReasonPaymentDeclined (FAILED_PRECONDITION, HTTP 402): the card was
	// declined. The order is CANCELLED with its stock released; the
	// error carries it (the problem member "order", over gRPC an Order in
	// the status details).
	ReasonPaymentDeclined = "PAYMENT_DECLINED"
	// ReasonInsufficientFunds (FAILED_PRECONDITION, HTTP 402): declined
	// for lack of funds; otherwise as ReasonPaymentDeclined.
	ReasonInsufficientFunds = "INSUFFICIENT_FUNDS"
	// ReasonPaymentFailed (FAILED_PRECONDITION, HTTP 402): the card
	// processor kept failing (a transient processing_error outlived the
	// charge step's retries), or the card details were lost to a crash of
	// the instance holding them (they are never stored). Nothing was
	// charged; the order is CANCELLED and carried as for a decline. A new
	// order (a new idempotency key) may succeed.
	ReasonPaymentFailed = "PAYMENT_FAILED"
	// ReasonInsufficientStock (FAILED_PRECONDITION, HTTP 409): an item is
	// not available in the quantity asked for. Metadata product_id and
	// available; no payment was attempted.
	ReasonInsufficientStock = "INSUFFICIENT_STOCK"
	// ReasonReservationExpired (FAILED_PRECONDITION, HTTP 409): the
	// checkout outlived its stock reservation and the stock was sold
	// meanwhile; the charge was refunded and the order CANCELLED.
	ReasonReservationExpired = "RESERVATION_EXPIRED"
	// ReasonRequiresAttention (FAILED_PRECONDITION, HTTP 409): the order
	// failed and undoing it ran out of retries; it is REQUIRES_ATTENTION
	// and an operator must act (see `orders check`). Carries the order.
	ReasonRequiresAttention = "ORDER_REQUIRES_ATTENTION"
	// ReasonInvalidOrderState (FAILED_PRECONDITION, HTTP 409): cancel or
	// ship of an order not CONFIRMED (or already being cancelled).
	// Metadata status.
	ReasonInvalidOrderState = "INVALID_ORDER_STATE"
	// ReasonIdempotencyInProgress (ABORTED as FAILED_PRECONDITION, HTTP
	// 409): the Idempotency-Key names a request still being served.
	// Retry later with the same key.
	ReasonIdempotencyInProgress = "IDEMPOTENCY_IN_PROGRESS"
)

// Keys of the ErrorInfo metadata (and problem+json members) orders
// attaches to its errors.
const (
	// MetaProductID and MetaAvailable explain ReasonInsufficientStock.
	MetaProductID = "product_id"
	MetaAvailable = "available"
	// MetaOrderID names the order a failure left behind.
	MetaOrderID = "order_id"
	// MetaStatus is the order's status on ReasonInvalidOrderState.
	MetaStatus = "status"
)

// ProblemOrderMember is the problem+json member that carries the order a
// failed placement left (402, and 409 when an order exists).
const ProblemOrderMember = "order"

// ReplayedMetadata is the gRPC response header, "true", on a CreateOrder
// or CancelOrder that repeated a completed idempotency key (CreateOrder
// also says so in its response's replayed field). Over HTTP it is
// Idempotent-Replayed: true.
const ReplayedMetadata = "idempotent-replayed"

// WarningMetadata is the response header of a GetOrder answered with less
// than the whole truth: the gateway sets it (an RFC 9110 Warning value)
// when it could not enrich the items from the catalog. Over HTTP it is
// Warning.
const WarningMetadata = "warning"

// Reasons lists the codes above, for tests that check the service declares
// nothing else.
func Reasons() []string {
	return []string{ReasonPaymentDeclined, ReasonInsufficientFunds, ReasonPaymentFailed, ReasonInsufficientStock,
		ReasonReservationExpired, ReasonRequiresAttention, ReasonInvalidOrderState, ReasonIdempotencyInProgress}
}
