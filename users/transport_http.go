package main

import (
	"context"
	"net/http"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/gorilla/mux"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
)

// NewHTTPHandler serves the Users routes of API.md and the JWKS document.
// verifier authenticates bearer tokens; routes decide whether they need one.
func NewHTTPHandler(e Endpoints, jwks auth.JWKS, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Methods(http.MethodPost).Path("/users").
		Handler(httpx.Handler[NewUser, User](e.CreateUser, httpx.JSONBody[NewUser](), http.StatusCreated))
	api.Methods(http.MethodPost).Path("/auth/login").
		Handler(httpx.Handler[Credentials, Session](e.Authenticate, httpx.JSONBody[Credentials](), http.StatusOK,
			httptransport.ServerAfter(noStore)))
	api.Methods(http.MethodGet).Path("/users/me").
		Handler(httpx.Handler[string, User](e.GetUser, nil, http.StatusOK))
	api.Methods(http.MethodPatch).Path("/users/me").
		Handler(httpx.Handler[UserUpdate, User](e.UpdateUser, decodeUpdate, http.StatusOK))
	api.Methods(http.MethodGet).Path("/users/{id}").
		Handler(httpx.Handler[string, User](e.GetUser, pathID, http.StatusOK))
	r.Methods(http.MethodGet).Path("/.well-known/jwks.json").Handler(jwksHandler(jwks))
	return verifier.Middleware(r)
}

// patchUser is the PATCH /users/me body. An explicit "address": null
// removes the address; leaving it out keeps it.
type patchUser struct {
	Name            *string                 `json:"name"`
	Address         httpx.Nullable[Address] `json:"address"`
	Password        *string                 `json:"password"`
	CurrentPassword *string                 `json:"current_password"`
}

func decodeUpdate(_ context.Context, r *http.Request) (UserUpdate, error) {
	p, err := httpx.DecodeJSON[patchUser](r)
	if err != nil {
		return UserUpdate{}, err
	}
	u := UserUpdate{Name: p.Name, Password: p.Password, CurrentPassword: p.CurrentPassword}
	if p.Address.Set {
		u.Address, u.ClearAddress = p.Address.Value, p.Address.Value == nil
	}
	return u, nil
}

// noStore keeps caches from keeping access tokens (RFC 6749, 5.1).
func noStore(ctx context.Context, w http.ResponseWriter) context.Context {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	return ctx
}

func pathID(_ context.Context, r *http.Request) (string, error) {
	return mux.Vars(r)["id"], nil
}

func jwksHandler(jwks auth.JWKS) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Verifiers cache keys; a short max-age lets a rotation reach them.
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpx.WriteJSON(w, http.StatusOK, jwks)
	})
}
