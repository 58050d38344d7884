package client

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/gorilla/mux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/rest"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// API is the part of kitshop.orders.v1.OrdersService that API.md's HTTP
// routes call: every unary method. The service's own pb server is one as
// it stands, so HTTP runs through the same endpoint chain as gRPC;
// RemoteAPI makes one of a gRPC client, for the gateway. WatchOrder, a
// server stream, is gRPC only.
//
// CreateOrder and CancelOrder set the response header ReplayedMetadata
// (with grpc.SetHeader) when they repeat a completed idempotency key,
// failures included; it becomes Idempotent-Replayed: true.
type API interface {
	CreateOrder(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error)
	GetOrder(context.Context, *ordersv1.GetOrderRequest) (*ordersv1.Order, error)
	ListOrders(context.Context, *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error)
	CancelOrder(context.Context, *ordersv1.CancelOrderRequest) (*ordersv1.Order, error)
	ShipOrder(context.Context, *ordersv1.ShipOrderRequest) (*ordersv1.Order, error)
}

// The typed Client is an API as it stands: a gateway may serve the routes
// over it and get its retry policy and breaker. It does not pass response
// headers on, so over it a replayed CreateOrder still says so (the
// response's replayed field) but a replayed CancelOrder or failure does
// not; RemoteAPI passes them.
var _ API = Client(nil)

// RegisterHTTP serves the Orders routes of API.md on router (made by
// httpx.NewRouter) with api behind them. Authentication is the caller's
// middleware's job: it puts the verified claims in the request context,
// where the routes' guards and api (in-process) read them, or from which
// a remote api forwards the token. The owner-or-admin rule, and the 404
// that hides whose order an id is, belong to the service, so both paths
// enforce it identically.
func RegisterHTTP(router *mux.Router, api API) {
	rest.Mount(router, Routes(api)...)
}

// orderPath is where an order lives: the Location of a placed order, and
// of one whose cancellation still runs.
const orderPath = "/api/v1/orders/{id}"

// forwarded are the gRPC response headers the routes show.
var forwarded = map[string]string{ReplayedMetadata: "Idempotent-Replayed"}

// orderDetail renders the order an error carries (a 402's, see
// ProblemOrderMember) as the problem's order member.
var orderDetail = map[protoreflect.FullName]string{
	(&ordersv1.Order{}).ProtoReflect().Descriptor().FullName(): ProblemOrderMember,
}

// Routes is the REST mapping of the Orders part of API.md: the one place
// where its JSON shapes, paths and statuses are written down. Every JSON
// member is the pb field of the same name (see kit/rest for the rules):
// an Order's status is its enum value name without the prefix (PENDING,
// CONFIRMED, SHIPPED, CANCELLED, REQUIRES_ATTENTION), and a field added
// to Order appears in the API with no edit here; the descriptor test in
// this package says when one cannot.
//
// Every route needs a caller; its guard answers 401 before the body is
// read, so an anonymous caller learns nothing about what a valid body
// looks like. Shipping is for admins (403 otherwise). The service checks
// again, which is what guards the same methods over gRPC.
func Routes(api API) []rest.Route {
	return []rest.Route{
		// Placing an order: 201 CONFIRMED, or 202 PENDING with Prefer:
		// respond-async or when the saga outlives the request's deadline
		// (it then completes in the background); Location either way.
		// Failures carry the order they left (402 PAYMENT_DECLINED,
		// INSUFFICIENT_FUNDS, PAYMENT_FAILED) as the member "order". The
		// body is the Order: the response's replayed flag is the header
		// Idempotent-Replayed. The card is common.v1.Card, whose number
		// API.md calls card_number here.
		rest.Unary(rest.Spec[*ordersv1.CreateOrderRequest, *ordersv1.CreateOrderResponse]{
			Method: http.MethodPost, Path: "/api/v1/orders", Call: api.CreateOrder,
			Doc: rest.Doc{Summary: "Place an order: reserve, charge, commit.", Statuses: []int{http.StatusAccepted},
				Problems: []int{http.StatusPaymentRequired, http.StatusConflict, http.StatusUnprocessableEntity}},
			Guard: auth.UserGuard, Body: true,
			Headers:   map[string]string{"Idempotency-Key": "idempotency_key"},
			NotInBody: []string{"respond_async"},
			Rename:    map[string]string{"payment.number": "card_number"},
			Hook:      preferAsync, HookFills: []string{"respond_async"},
			Status: http.StatusCreated, Location: orderPath, BodyField: "order",
			Respond:  placed,
			Metadata: forwarded, ErrorDetails: orderDetail,
		}),
		// The gateway enriches the items with the catalog's current sku
		// and name; when it cannot, it still answers, with a Warning.
		rest.Unary(rest.Spec[*ordersv1.GetOrderRequest, *ordersv1.Order]{
			Method: http.MethodGet, Path: orderPath, Call: api.GetOrder, UUIDs: ids, Guard: auth.UserGuard,
			Metadata: map[string]string{WarningMetadata: "Warning"},
		}),
		// The caller's own orders, newest first. Paging follows kit/page,
		// applied by the service as for gRPC: page_size 0 is 20, above
		// 100 is 100, negative is 400.
		rest.Unary(rest.Spec[*ordersv1.ListOrdersRequest, *ordersv1.ListOrdersResponse]{
			Method: http.MethodGet, Path: "/api/v1/orders", Call: api.ListOrders, Guard: auth.UserGuard,
			Hook:  rest.CheckPageSize[*ordersv1.ListOrdersRequest],
			Query: []string{"page_size", "page_token"},
		}),
		// Cancelling: 200 with the order CANCELLED (or as it is, when it
		// was cancelled before), or 202 with Location while the cancel
		// saga still runs, which is when the order comes back still
		// CONFIRMED. An optional Idempotency-Key makes a retry answer
		// Idempotent-Replayed: true.
		rest.Unary(rest.Spec[*ordersv1.CancelOrderRequest, *ordersv1.Order]{
			Method: http.MethodPost, Path: orderPath + "/cancel", Call: api.CancelOrder, UUIDs: ids, Guard: auth.UserGuard,
			Doc:     rest.Doc{Summary: "Cancel an order: refund and restock.", Statuses: []int{http.StatusAccepted}, Problems: []int{http.StatusConflict}},
			Headers: map[string]string{"Idempotency-Key": "idempotency_key"},
			Respond: cancelling, Metadata: forwarded, ErrorDetails: orderDetail,
		}),
		rest.Unary(rest.Spec[*ordersv1.ShipOrderRequest, *ordersv1.Order]{
			Method: http.MethodPost, Path: orderPath + "/ship", Call: api.ShipOrder, UUIDs: ids, Guard: auth.AdminGuard,
			Doc: rest.Doc{Summary: "Mark an order shipped (admin).", Problems: []int{http.StatusConflict}},
		}),
	}
}

// preferAsync turns "Prefer: respond-async" (RFC 7240) into respond_async.
func preferAsync(r *http.Request, req *ordersv1.CreateOrderRequest, _ rest.Members) error {
	req.RespondAsync = rest.Prefers(r.Header, "respond-async")
	return nil
}

// placed is 202 for an order still PENDING (201 otherwise), and says
// whether the answer repeats a completed idempotency key.
func placed(h http.Header, resp *ordersv1.CreateOrderResponse) int {
	if resp.GetReplayed() {
		h.Set("Idempotent-Replayed", "true")
	}
	if resp.GetOrder().GetStatus() == ordersv1.OrderStatus_ORDER_STATUS_PENDING {
		return http.StatusAccepted
	}
	return 0
}

// cancelling is 202, with the order's Location to poll, while the
// cancellation runs: CancelOrder answers a CONFIRMED order only then
// (see the OrdersService contract), which holds over any API, the typed
// Client's included, where a response header would be lost.
func cancelling(h http.Header, o *ordersv1.Order) int {
	if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		return 0
	}
	if o.GetId() != "" {
		h.Set("Location", "/api/v1/orders/"+url.PathEscape(o.GetId()))
	}
	return http.StatusAccepted
}

// RemoteAPI serves API with an OrdersService gRPC client, passing opts on
// every call. The caller's identity travels as the connection's
// interceptors send it (auth.UnaryClientInterceptor forwards the bearer
// token that the HTTP verifier put in the context). CreateOrder and
// CancelOrder pass the service's ReplayedMetadata on to the route, as the
// in-process server sets it there directly.
func RemoteAPI(c ordersv1.OrdersServiceClient, opts ...grpc.CallOption) API {
	return remoteAPI{c: c, opts: opts}
}

type remoteAPI struct {
	c    ordersv1.OrdersServiceClient
	opts []grpc.CallOption
}

func (r remoteAPI) CreateOrder(ctx context.Context, req *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	var header metadata.MD
	resp, err := r.c.CreateOrder(ctx, req, r.withHeader(&header)...)
	rest.ForwardMetadata(ctx, header, ReplayedMetadata)
	return resp, err
}

func (r remoteAPI) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	return r.c.GetOrder(ctx, req, r.opts...)
}

func (r remoteAPI) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	return r.c.ListOrders(ctx, req, r.opts...)
}

func (r remoteAPI) CancelOrder(ctx context.Context, req *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	var header metadata.MD
	resp, err := r.c.CancelOrder(ctx, req, r.withHeader(&header)...)
	rest.ForwardMetadata(ctx, header, ReplayedMetadata)
	return resp, err
}

func (r remoteAPI) ShipOrder(ctx context.Context, req *ordersv1.ShipOrderRequest) (*ordersv1.Order, error) {
	return r.c.ShipOrder(ctx, req, r.opts...)
}

// withHeader is opts plus one collecting the response header, in a fresh
// slice: appending to r.opts could share its array between concurrent
// calls.
func (r remoteAPI) withHeader(md *metadata.MD) []grpc.CallOption {
	return slices.Concat(r.opts, []grpc.CallOption{grpc.Header(md)})
}

// ids are the path variables that hold ids: a malformed one is refused
// before any call, at the gateway too.
var ids = []string{"id"}
