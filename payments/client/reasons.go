// Package client is what a caller of the payments service needs, without
// importing the service itself.
package client

// Reasons the payments service returns, as google.rpc.ErrorInfo reason
// over gRPC and as the problem+json "code" over HTTP. They are declared
// here once; the service uses these constants, and callers compare against
// them instead of string literals. Payments also returns the platform-wide
// reasons of kit/errs (VALIDATION_FAILED, NOT_FOUND, UNAVAILABLE,
// IDEMPOTENCY_KEY_REUSED, ...), which are declared there.
//
// This file imports nothing, so any package may depend on it.
const (
	// ReasonCardDeclined (FAILED_PRECONDITION, HTTP 402): the issuer
	// declined the card. Final: a retry with the same key gives the same
	// answer; a new attempt needs a new key (and usually another card).
	ReasonCardDeclined = "CARD_DECLINED"
	// ReasonInsufficientFunds (FAILED_PRECONDITION, HTTP 402): declined
	// for lack of funds. Final, like ReasonCardDeclined.
	ReasonInsufficientFunds = "INSUFFICIENT_FUNDS"
	// ReasonProcessingError (UNAVAILABLE): the processor could not decide,
	// could not be reached, or its answer was not recorded yet. Not final:
	// retry the Charge with the same key (it never charges twice), then
	// compensate (Refund by the charge's key) if it keeps failing.
	ReasonProcessingError = "PROCESSING_ERROR"
	// ReasonRefundExceedsCaptured (FAILED_PRECONDITION): the refund asks
	// for more than is left of the captured amount (metadata
	// MetaRefundableCents).
	ReasonRefundExceedsCaptured = "REFUND_EXCEEDS_CAPTURED"
	// ReasonNotCaptured (FAILED_PRECONDITION): a refund by payment id of a
	// payment that was never captured (declined or failed).
	ReasonNotCaptured = "PAYMENT_NOT_CAPTURED"
	// ReasonChargeNotFound (NOT_FOUND): GetChargeByKey found no charge
	// recorded under the key: the Charge never reached payments, or was
	// refused before anything was recorded (invalid input, unknown user).
	ReasonChargeNotFound = "CHARGE_NOT_FOUND"
	// ReasonChargePending (UNAVAILABLE): the charge's outcome is not known
	// yet (it is in flight, or its caller died mid-charge and the
	// processor has no answer for the key so far). Retry later; the
	// recovery job settles it within its bound.
	ReasonChargePending = "CHARGE_PENDING"
	// ReasonUserNotFound (FAILED_PRECONDITION): Charge for a user that
	// does not exist. Retrying will not help.
	ReasonUserNotFound = "USER_NOT_FOUND"
)

// Keys of the ErrorInfo metadata (and problem+json members) payments
// attaches to its errors.
const (
	// MetaPaymentID names the payment an error is about: the declined or
	// failed charge, the payment a reused idempotency key belongs to.
	MetaPaymentID = "payment_id"
	// MetaDeclineCode is the processor's decline code on declines
	// (card_declined, insufficient_funds).
	MetaDeclineCode = "decline_code"
	// MetaRefundableCents is what is left to refund, on
	// ReasonRefundExceedsCaptured.
	MetaRefundableCents = "refundable_cents"
)
