package client

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/rest"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// API is the part of kitshop.payments.v1.PaymentsService that API.md's
// HTTP routes call. The service's own pb server (a
// paymentsv1.PaymentsServiceServer) is one as it stands, so HTTP runs
// through the same endpoint chain as gRPC; RemoteAPI makes one of a gRPC
// client, for the gateway. Charge, Refund and GetChargeByKey are not here:
// they are internal (the orders saga's, over gRPC and mTLS only).
type API interface {
	GetPayment(context.Context, *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error)
}

// The typed Client is an API as it stands: a gateway may serve the routes
// over it and get its retry policy and breaker.
var _ API = Client(nil)

// RegisterHTTP serves the Payments routes of API.md on router (made by
// httpx.NewRouter) with api behind them. Authentication is the caller's
// middleware's job: it puts the verified claims in the request context,
// and api reads them there (in-process) or forwards them (remote). The
// owner-or-admin rule, and the 404 that hides whose payment an id is,
// belong to the service, so both paths enforce it identically.
func RegisterHTTP(router *mux.Router, api API) {
	rest.Mount(router, Routes(api)...)
}

// Routes is the REST mapping of the Payments part of API.md: the one place
// where its JSON shape, path and status are written down. Every JSON
// member is the pb field of the same name (see kit/rest for the rules):
// Payment's status is its enum value name without the prefix (CAPTURED,
// DECLINED, FAILED, REFUNDED, PENDING), and a field added to Payment
// appears in the API with no edit here; the descriptor test in this
// package says when one cannot.
func Routes(api API) []rest.Route {
	return []rest.Route{
		rest.Unary(rest.Spec[*paymentsv1.GetPaymentRequest, *paymentsv1.Payment]{
			Method: http.MethodGet, Path: "/api/v1/payments/{id}", Call: api.GetPayment, UUIDs: ids, Guard: auth.UserGuard,
		}),
	}
}

// RemoteAPI serves API with a PaymentsService gRPC client, passing opts on
// every call. The caller's identity travels as the connection's
// interceptors send it (auth.UnaryClientInterceptor forwards the bearer
// token that the HTTP verifier put in the context). RemoteAPI is for a
// bare connection; a Client from New is an API already.
func RemoteAPI(c paymentsv1.PaymentsServiceClient, opts ...grpc.CallOption) API {
	return remoteAPI{c: c, opts: opts}
}

type remoteAPI struct {
	c    paymentsv1.PaymentsServiceClient
	opts []grpc.CallOption
}

func (r remoteAPI) GetPayment(ctx context.Context, req *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error) {
	return r.c.GetPayment(ctx, req, r.opts...)
}

// ids are the path variables that hold ids: a malformed one is refused
// before any call, at the gateway too.
var ids = []string{"id"}
