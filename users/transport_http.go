package main

import (
	"net/http"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/users/client"
)

// NewHTTPHandler serves the Users routes of API.md and the JWKS document.
// The routes are users/client's REST mapping over the in-process pb server,
// so an HTTP request is decoded into the same pb message a gRPC call
// carries and runs through the same endpoint chain; the gateway serves the
// same mapping over a remote client. verifier authenticates bearer tokens;
// routes decide whether they need one.
func NewHTTPHandler(e Endpoints, jwks auth.JWKS, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	client.RegisterHTTP(r, NewGRPCServer(e))
	// The JWKS is not a pb method: it stays with the service that owns
	// the keys.
	r.Methods(http.MethodGet).Path("/.well-known/jwks.json").Handler(jwksHandler(jwks))
	return verifier.Middleware(r)
}

func jwksHandler(jwks auth.JWKS) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Verifiers cache keys; a short max-age lets a rotation reach them.
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpx.WriteJSON(w, http.StatusOK, jwks)
	})
}
