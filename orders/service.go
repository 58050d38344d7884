package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/card"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/orders/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

// Service places orders through the checkout saga and tracks them. The
// caller is read from ctx (auth.ClaimsFrom, put there by the transports):
// customers see and act on their own orders, admins on any. Another
// user's order answers ErrNotFound, exactly as an unknown id does.
type Service interface {
	// PlaceOrder validates req, copies names and prices into a new PENDING
	// order, persists it with its checkout saga in one transaction, and
	// drives the saga (ValidateUser -> ReserveInventory -> Charge ->
	// CommitReservation -> CONFIRMED; compensation in reverse on failure).
	//
	// It waits for the saga until ctx's deadline (less a margin to answer)
	// unless req.Async: the result is then the order still PENDING, and
	// the saga completes in the background. A saga that fails returns the
	// order CANCELLED (or REQUIRES_ATTENTION) inside the error: see
	// OrderOf and the reasons in orders/client.
	//
	// With req.IdempotencyKey (scoped to the caller, kept 24 h): a repeat
	// of a completed request returns its first result, marked Replayed;
	// the key with another request is errs.ErrIdempotencyKeyReused; the
	// key while its first request is still being served is
	// ErrIdempotencyInProgress. Two identical requests racing place one
	// order and charge once.
	PlaceOrder(ctx context.Context, req PlaceOrderRequest) (Placed, error)
	// GetOrder returns the order to its owner or an admin.
	GetOrder(ctx context.Context, id string) (Order, error)
	// ListOrders lists the caller's own orders, newest first, in keyset
	// pages (kit/page rules: size 0 is 20, above 100 is 100).
	ListOrders(ctx context.Context, req ListRequest) (OrderPage, error)
	// CancelOrder cancels a CONFIRMED order through the cancel saga:
	// refund the payment, restock the items, then CANCELLED. It waits for
	// the saga like PlaceOrder; when the deadline comes first the order is
	// returned still CONFIRMED and Pending is set. Any other state is
	// ErrInvalidOrderState. Repeating the call while the saga runs, or
	// after it completed, is not an error: it returns the order as it is.
	CancelOrder(ctx context.Context, req CancelRequest) (Cancelled, error)
	// ShipOrder moves a CONFIRMED order to SHIPPED. Admin only
	// (PermissionDenied otherwise). ErrInvalidOrderState from any other
	// state, and while a cancellation is in progress.
	ShipOrder(ctx context.Context, id string) (Order, error)
	// WatchOrder calls send with the order as it is now and again on every
	// status change, from whichever instance made it, until the order is
	// final (Status.Final) or ctx ends (then it returns ctx's error). An
	// error from send ends the watch with that error.
	WatchOrder(ctx context.Context, id string, send func(Order) error) error
	// Sagas lists sagas for the read-only debug endpoint, admin or
	// operator use: active (not final), failed (compensated) or attention
	// (requires attention), newest first, at most limit (1..500).
	Sagas(ctx context.Context, filter SagaFilter, limit int) ([]SagaInfo, error)
}

// Status is an order's state (API.md).
type Status string

// Order states. PENDING while the checkout saga runs; CONFIRMED when it
// succeeded; CANCELLED when it failed and was compensated, or when a
// CONFIRMED order was cancelled; SHIPPED from CONFIRMED (admin);
// REQUIRES_ATTENTION when a compensation ran out of retries.
const (
	StatusPending           Status = "PENDING"
	StatusConfirmed         Status = "CONFIRMED"
	StatusShipped           Status = "SHIPPED"
	StatusCancelled         Status = "CANCELLED"
	StatusRequiresAttention Status = "REQUIRES_ATTENTION"
)

// Final reports whether no transition leaves s without an operator:
// WatchOrder ends on these. CONFIRMED is not final (it may still ship or
// be cancelled).
func (s Status) Final() bool {
	return s == StatusShipped || s == StatusCancelled || s == StatusRequiresAttention
}

// Address is a shipping address (pb common Address).
type Address struct {
	Line1, Line2, City, State, PostalCode, Country string
}

// Item is one line of an order. SKU, Name and UnitPriceCents are copied
// when the order is placed (the price again from the reservation), so an
// order never changes when the catalog does.
type Item struct {
	ProductID      string
	SKU            string
	Name           string
	Quantity       int64
	UnitPriceCents int64
	LineTotalCents int64
}

// Order is the API's Order. Its API shape is pb/orders/v1's Order, mapped
// to JSON by orders/client; this type carries no JSON tags.
type Order struct {
	ID              string
	UserID          string
	Status          Status
	Items           []Item
	TotalCents      int64
	Currency        string
	ShippingAddress Address
	PaymentID       string
	FailureReason   string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// LineItem is one requested line.
type LineItem struct {
	ProductID string
	Quantity  int64
}

// PlaceOrderRequest asks for an order. Printing it is safe: card.Card
// redacts. The card is never stored: it lives in the memory of the
// instance that accepted the order until the charge is sent.
type PlaceOrderRequest struct {
	Items           []LineItem
	ShippingAddress Address
	Card            card.Card
	IdempotencyKey  string
	Async           bool
}

// Placed is PlaceOrder's result: the order (PENDING when the saga still
// runs, CONFIRMED when it succeeded) and whether it repeats the first
// answer to its idempotency key.
type Placed struct {
	Order    Order
	Replayed bool
}

// ListRequest asks for a page of the caller's orders.
type ListRequest struct {
	PageSize  int
	PageToken string
}

// OrderPage is one page of orders; NextPageToken is "" on the last.
type OrderPage struct {
	Orders        []Order
	NextPageToken string
}

// CancelRequest asks to cancel an order. IdempotencyKey is optional: the
// cancel saga's keys derive from the order, so a repeat never refunds
// twice either way.
type CancelRequest struct {
	ID             string
	IdempotencyKey string
}

// Cancelled is CancelOrder's result: the order, and whether its
// cancellation is still running (the order is then still CONFIRMED).
type Cancelled struct {
	Order    Order
	Pending  bool
	Replayed bool
}

// SagaFilter selects sagas for the debug endpoint.
type SagaFilter string

const (
	SagasActive    SagaFilter = "active"
	SagasFailed    SagaFilter = "failed"
	SagasAttention SagaFilter = "attention"
)

// SagaInfo is what the debug endpoint shows of a saga: its persisted
// state (kit/saga's JSON) and the order it works for.
type SagaInfo struct {
	OrderID string
	Kind    string // "checkout" or "cancel"
	State   any    // saga.State; kept any here so the debug JSON is the engine's own
}

// Users is what orders needs of the users service (users/client).
type Users interface {
	ValidateUser(context.Context, *usersv1.ValidateUserRequest) (*usersv1.ValidateUserResponse, error)
}

// Products is what orders needs of the products service
// (products/client): the catalog read that validates an order, and the
// internal inventory methods the sagas call.
type Products interface {
	BatchGetProducts(context.Context, *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error)
	ReserveInventory(context.Context, *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error)
	CommitReservation(context.Context, *productsv1.CommitReservationRequest) (*productsv1.Reservation, error)
	ReleaseReservation(context.Context, *productsv1.ReleaseReservationRequest) (*productsv1.Reservation, error)
	RestockItems(context.Context, *productsv1.RestockItemsRequest) (*productsv1.RestockItemsResponse, error)
}

// Payments is what orders needs of the payments service (payments/client):
// the internal methods of the sagas.
type Payments interface {
	Charge(context.Context, *paymentsv1.ChargeRequest) (*paymentsv1.Payment, error)
	Refund(context.Context, *paymentsv1.RefundRequest) (*paymentsv1.RefundResponse, error)
	GetChargeByKey(context.Context, *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error)
}

// Domain errors. errors.Is matches kind and reason, so the values the
// service returns (with metadata and the order attached) match these.
var (
	// ErrNotFound keeps the generic NOT_FOUND: another user's order must
	// answer exactly as an unknown id (API.md, Identity).
	ErrNotFound           = errs.New(errs.NotFound, errs.ReasonNotFound, "order not found")
	ErrInvalidOrderState  = errs.New(errs.FailedPrecondition, client.ReasonInvalidOrderState, "the order is not in a state that allows this")
	ErrPaymentDeclined    = errs.New(errs.FailedPrecondition, client.ReasonPaymentDeclined, "payment declined").WithStatus(http.StatusPaymentRequired)
	ErrInsufficientFunds  = errs.New(errs.FailedPrecondition, client.ReasonInsufficientFunds, "insufficient funds").WithStatus(http.StatusPaymentRequired)
	ErrPaymentFailed      = errs.New(errs.FailedPrecondition, client.ReasonPaymentFailed, "the payment could not be processed; nothing was charged").WithStatus(http.StatusPaymentRequired)
	ErrInsufficientStock  = errs.New(errs.FailedPrecondition, client.ReasonInsufficientStock, "insufficient stock")
	ErrReservationExpired = errs.New(errs.FailedPrecondition, client.ReasonReservationExpired,
		"the stock reservation expired before the order completed; the payment was refunded")
	ErrRequiresAttention = errs.New(errs.FailedPrecondition, client.ReasonRequiresAttention,
		"the order failed and could not be fully undone; an operator will resolve it")
	ErrIdempotencyInProgress = errs.New(errs.FailedPrecondition, client.ReasonIdempotencyInProgress,
		"a request with this idempotency key is still in progress; retry later")
	ErrIdempotencyKeyReused = errs.ErrIdempotencyKeyReused
)

// orderFailure carries the order a failed placement left behind, as the
// cause of the error returned: the transports attach it to the answer (a
// problem member, a gRPC status detail) and OrderOf finds it.
type orderFailure struct{ order Order }

func (f *orderFailure) Error() string { return "order " + f.order.ID + " is " + string(f.order.Status) }

// failedWith returns base, with metadata order_id, carrying o.
func failedWith(base *errs.Error, o Order) *errs.Error {
	e := *base
	e.Err = &orderFailure{order: o}
	return e.With(client.MetaOrderID, o.ID)
}

// OrderOf returns the order that err carries, if any.
func OrderOf(err error) (Order, bool) {
	var f *orderFailure
	if errors.As(err, &f) {
		return f.order, true
	}
	return Order{}, false
}

// Options tune the service; zero values take the defaults (service_saga.go).
type Options struct {
	Logger log.Logger
	// Metrics registers the saga metrics (sagas by outcome, orders
	// requiring attention); nil registers nothing.
	Metrics prometheus.Registerer
	// Owner names this instance in saga leases: unique among instances.
	Owner string
	// ReservationTTL is how long ReserveInventory holds stock (15m).
	ReservationTTL time.Duration
	// LeaseTTL is how soon another instance takes over a dead one's
	// sagas (30s); ResumeInterval is how often unfinished sagas are
	// looked for (5s).
	LeaseTTL, ResumeInterval time.Duration
	// MaxDriving bounds the sagas this instance drives at once (256);
	// more wait in the database for the resume loop.
	MaxDriving int
	// IdempotencyTTL is how long an idempotency key is kept (24h).
	IdempotencyTTL time.Duration
	// Patience is how long a saga waits out a peer that is down (its
	// breaker open, unreachable) before failing the step and
	// compensating: it is parked and resumed (5m; negative: never wait).
	// A checkout parked past its request's deadline answers PENDING.
	Patience time.Duration
	// Retry bounds each forward step of the checkout saga (kit/saga's
	// DefaultRetry: 5 attempts within 30s); CompensateRetry bounds each
	// compensation and the cancel saga's steps, whose alternative is an
	// operator (8 attempts within 2m). Tests shorten both.
	Retry, CompensateRetry saga.Retry
	// Now is the clock; tests inject one.
	Now func() time.Time
	// Tracer, when set, traces each saga's drives and steps in the trace
	// of the request that placed (or cancelled) the order.
	Tracer *zipkin.Tracer
}
