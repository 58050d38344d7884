package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/ratelimit"
)

// The route key follows the verified user, else the API key, else the
// source address; it is a hash that names none of them; the user's key is
// the same whether it was set by routeKeys or derived at the backend call.
func TestRouteKeys(t *testing.T) {
	tiers := ratelimit.DefaultTiers()
	keys, err := ratelimit.ParseAPIKeys("secret-key:free", tiers)
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.Config{Tiers: tiers, APIKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	h := routeKeys(limiter)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = edgeRouteKey(r.Context())
	}))
	key := func(remote, apiKey, user string) string {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/products", nil)
		r.RemoteAddr = remote
		if apiKey != "" {
			r.Header.Set(ratelimit.HeaderAPIKey, apiKey)
		}
		if user != "" {
			r = r.WithContext(auth.WithClaims(r.Context(), auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: user}}))
		}
		got = ""
		h.ServeHTTP(httptest.NewRecorder(), r)
		return got
	}
	userA := key("192.0.2.1:1000", "", "u-1")
	if userA == "" || userA != key("192.0.2.2:2000", "secret-key", "u-1") {
		t.Fatal("one user got two route keys from two addresses")
	}
	if userA == key("192.0.2.1:1000", "", "u-2") {
		t.Fatal("two users share a route key")
	}
	claimsOnly := auth.WithClaims(context.Background(), auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "u-1"}})
	if edgeRouteKey(claimsOnly) != userA {
		t.Fatal("the backend's fallback disagrees with routeKeys on a user's key")
	}
	apiKey := key("192.0.2.1:1000", "secret-key", "")
	if apiKey == "" || apiKey != key("192.0.2.9:1000", "secret-key", "") {
		t.Fatal("an API key's clients got different route keys")
	}
	anon := key("192.0.2.1:1000", "", "")
	if anon == "" || anon == apiKey || anon == key("192.0.2.7:1000", "", "") {
		t.Fatal("anonymous clients are not keyed by address")
	}
	for _, k := range []string{userA, apiKey, anon} {
		if len(k) != 16 {
			t.Fatalf("route key %q is not a short hash", k)
		}
	}
	if edgeRouteKey(context.Background()) != "" {
		t.Fatal("a request with no identity got a key")
	}
}
