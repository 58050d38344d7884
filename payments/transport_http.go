package main

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
)

// NewHTTPHandler serves the Payments routes of API.md. Charges and refunds
// are not on HTTP: only the orders saga makes them, over gRPC. verifier
// authenticates bearer tokens; GetPayment needs one.
func NewHTTPHandler(e Endpoints, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Methods(http.MethodGet).Path("/payments/{id}").
		Handler(httpx.Handler[string, Payment](e.GetPayment, pathID, http.StatusOK))
	return verifier.Middleware(r)
}

func pathID(_ context.Context, r *http.Request) (string, error) {
	return mux.Vars(r)["id"], nil
}
