package main

import (
	"net/http"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/payments/client"
)

// NewHTTPHandler serves the Payments routes of API.md. The routes are
// payments/client's REST mapping over the in-process pb server, so an HTTP
// request is decoded into the same pb message a gRPC call carries and runs
// through the same endpoint chain; the gateway serves the same mapping
// over a remote client. Charges and refunds are not on HTTP: only the
// orders saga makes them, over gRPC. verifier authenticates bearer tokens;
// GetPayment needs one.
func NewHTTPHandler(e Endpoints, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	client.RegisterHTTP(r, NewGRPCServer(e))
	return verifier.Middleware(r)
}
