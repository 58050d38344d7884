package main

import (
	"net/http"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/products/client"
)

// NewHTTPHandler serves the Products routes of API.md. The routes are
// products/client's REST mapping over the in-process pb server, so an HTTP
// request is decoded into the same pb message a gRPC call carries and runs
// through the same endpoint chain (where the writes' admin check lives);
// the gateway serves the same mapping over a remote client. verifier
// authenticates bearer tokens; the admin routes refuse other callers
// before reading the body.
func NewHTTPHandler(e Endpoints, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	client.RegisterHTTP(r, newUnaryServer(e))
	return verifier.Middleware(r)
}
