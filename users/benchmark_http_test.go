package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

// BenchmarkHTTP compares one users HTTP request served through the REST
// mapping (users/client's routes: JSON -> pb -> the in-process pb server
// -> the endpoint chain -> pb -> JSON) with the transport it replaced
// (go-kit's HTTP server with httpx.DecodeJSON into domain structs and
// encoding/json of JSON-tagged structs, kept below as legacyHTTPHandler).
// Both run in-process behind the same JWT middleware, with the same bare
// endpoint chain and memory store, so that the difference is the
// transport's own work rather than logging or tracing. Run with -count:
// the VM is noisy.
func BenchmarkHTTP(b *testing.B) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	svc, err := NewService(newMemoryStore(), key, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	u, err := svc.Register(ctx, NewUser{Email: "bench@example.com", Password: "correct horse", Name: "Bench",
		Address: &Address{Line1: "1 Main St", City: "Paris", PostalCode: "75001", Country: "FR"}})
	if err != nil {
		b.Fatal(err)
	}
	session, err := svc.Login(ctx, u.Email, "correct horse")
	if err != nil {
		b.Fatal(err)
	}
	verifier := auth.NewVerifier(auth.StaticKeys(pub))
	endpoints := MakeEndpoints(svc, mw.Chain{Service: "users"})
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"legacy", legacyHTTPHandler(endpoints, verifier)},
		{"mapping", NewHTTPHandler(endpoints, svc.JWKS(), verifier)},
	}
	requests := []struct {
		name, method, body string
	}{
		{"GetMe", http.MethodGet, ""},
		{"PatchMe", http.MethodPatch, `{"name":"Bench B","address":{"line1":"2 Main St","city":"Paris","postal_code":"75002","country":"FR"}}`},
	}
	for _, rq := range requests {
		for _, h := range handlers {
			b.Run(rq.name+"/"+h.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := httptest.NewRequest(rq.method, "/api/v1/users/me", strings.NewReader(rq.body))
					r.Header.Set("Authorization", "Bearer "+session.AccessToken)
					if rq.body != "" {
						r.Header.Set("Content-Type", "application/json")
					}
					w := httptest.NewRecorder()
					h.h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}

// legacyHTTPHandler is users' HTTP transport as it was before kit/rest,
// kept only as the benchmark's baseline.
func legacyHTTPHandler(e Endpoints, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	api := r.PathPrefix("/api/v1").Subrouter()
	getUser, updateUser := legacyJSON(e.GetUser), legacyJSON(e.UpdateUser)
	api.Methods(http.MethodGet).Path("/users/me").
		Handler(httpx.Handler[string, legacyUser](getUser, nil, http.StatusOK))
	api.Methods(http.MethodPatch).Path("/users/me").
		Handler(httpx.Handler[UserUpdate, legacyUser](updateUser, legacyDecodeUpdate, http.StatusOK))
	return verifier.Middleware(r)
}

// legacyUser is User with the JSON tags it used to carry.
type legacyUser struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Address   *Address  `json:"address"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func legacyJSON(e func(context.Context, any) (any, error)) func(context.Context, any) (any, error) {
	return func(ctx context.Context, req any) (any, error) {
		resp, err := e(ctx, req)
		if err != nil {
			return nil, err
		}
		u, err := typed.Cast[User](resp)
		if err != nil {
			return nil, err
		}
		return legacyUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Address: u.Address,
			CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}, nil
	}
}

type legacyPatchUser struct {
	Name            *string                 `json:"name"`
	Address         httpx.Nullable[Address] `json:"address"`
	Password        *string                 `json:"password"`
	CurrentPassword *string                 `json:"current_password"`
}

func legacyDecodeUpdate(_ context.Context, r *http.Request) (UserUpdate, error) {
	p, err := httpx.DecodeJSON[legacyPatchUser](r)
	if err != nil {
		return UserUpdate{}, err
	}
	u := UserUpdate{Name: p.Name, Password: p.Password, CurrentPassword: p.CurrentPassword}
	if p.Address.Set {
		u.Address, u.ClearAddress = p.Address.Value, p.Address.Value == nil
	}
	return u, nil
}
