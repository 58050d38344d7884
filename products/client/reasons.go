// Package client is everything a caller of the products service needs:
// the typed gRPC client over discovery (New), the reason codes the service
// returns, which callers compare with errs.ReasonOf(err) instead of string
// literals and the service builds its errors from, the REST mapping of the
// Products part of API.md (Routes, RegisterHTTP) and its contract table.
// Other services and the gateway import it; they never import products.
package client

// Reasons of the products service: the google.rpc.ErrorInfo reason over
// gRPC and the problem "code" over HTTP. They are stable: a caller may
// branch on them.
const (
	// ReasonProductNotFound (NOT_FOUND): no product has the id; in a
	// reservation or restock, metadata product_id names it.
	ReasonProductNotFound = "PRODUCT_NOT_FOUND"
	// ReasonSKUTaken (ALREADY_EXISTS): another product has the SKU.
	ReasonSKUTaken = "SKU_TAKEN"
	// ReasonProductInactive (FAILED_PRECONDITION): the product is not for
	// sale; metadata product_id.
	ReasonProductInactive = "PRODUCT_INACTIVE"
	// ReasonInsufficientStock (FAILED_PRECONDITION): metadata product_id,
	// available and requested (or reserved and requested_stock when stock
	// would be set below what is reserved).
	ReasonInsufficientStock = "INSUFFICIENT_STOCK"

	// ReasonReservationNotFound (NOT_FOUND): committing a reservation that
	// was never made.
	ReasonReservationNotFound = "RESERVATION_NOT_FOUND"
	// ReasonReservationReleased (FAILED_PRECONDITION): committing a
	// released reservation, or reserving again one that was released
	// before it was made.
	ReasonReservationReleased = "RESERVATION_RELEASED"
	// ReasonReservationCommitted (FAILED_PRECONDITION): releasing a
	// committed reservation; its units are sold (RestockItems returns them).
	ReasonReservationCommitted = "RESERVATION_COMMITTED"
	// ReasonReservationExpired (FAILED_PRECONDITION): committing after the
	// ttl when the units could not be taken again; metadata product_id,
	// available, requested. The saga refunds on it.
	ReasonReservationExpired = "RESERVATION_EXPIRED"

	// ReasonSlowConsumer (RESOURCE_EXHAUSTED): a stock watcher fell too far
	// behind and was cut off.
	ReasonSlowConsumer = "SLOW_CONSUMER"
	// ReasonTooManyWatchers (RESOURCE_EXHAUSTED): the instance serves as
	// many stock watches as it allows; watch again later or elsewhere.
	ReasonTooManyWatchers = "TOO_MANY_WATCHERS"
	// ReasonTooManySubscriptions (RESOURCE_EXHAUSTED): one watch would
	// follow more products than allowed; metadata limit.
	ReasonTooManySubscriptions = "TOO_MANY_SUBSCRIPTIONS"

	// ReasonIdempotencyKeyReused (FAILED_PRECONDITION, 422 over HTTP): the
	// key names a different request. Platform-wide, the same value as
	// kit/errs.ReasonIdempotencyKeyReused.
	ReasonIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	// ReasonInvalidPageToken (INVALID_ARGUMENT): a search page token that
	// is malformed or was issued for other filters. Platform-wide, the same
	// value as kit/page.ReasonInvalidToken.
	ReasonInvalidPageToken = "INVALID_PAGE_TOKEN"
)

// Besides these, products returns the reasons every kitshop service shares
// (kit/errs: VALIDATION_FAILED, UNAUTHENTICATED, PERMISSION_DENIED,
// UNAVAILABLE, ...), which are not repeated here.
