package main

import (
	"net/http"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/orders/client"
)

// NewHTTPHandler serves the Orders routes of API.md and the operators'
// read-only /debug/sagas. The API routes are orders/client's REST mapping
// over the in-process pb server, so an HTTP request is decoded into the
// same pb message a gRPC call carries and runs through the same endpoint
// chain; the gateway serves the same mapping over a remote client.
// WatchOrder is gRPC only. verifier authenticates bearer tokens; every
// route needs one.
func NewHTTPHandler(e Endpoints, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	client.RegisterHTTP(r, newUnaryServer(e))
	r.Methods(http.MethodGet).Path(debugSagasPath).Handler(sagasHandler(e.Sagas))
	return verifier.Middleware(r)
}
