package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/users/client"
)

type httpFixture struct {
	*fixture
	kittest.HTTPClient
}

func newHTTPFixture(t *testing.T) *httpFixture {
	f := newFixture(t)
	h := NewHTTPHandler(MakeEndpoints(f.svc, mw.Chain{Service: "users"}), f.svc.JWKS(), f.verifier)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &httpFixture{fixture: f, HTTPClient: kittest.HTTPClient{BaseURL: srv.URL}}
}

func (f *httpFixture) token(t *testing.T, email, password string) string {
	t.Helper()
	r := f.JSON(t, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"`+password+`"}`)
	if r.Status != 200 {
		t.Fatalf("login %s: %d %v", email, r.Status, r.Body)
	}
	return r.Body["access_token"].(string)
}

func TestHTTPRegisterAndLogin(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.JSON(t, "POST", "/api/v1/users", "", `{"email":"ada@example.com","password":"correct horse","name":"Ada"}`)
	kittest.ExpectStatus(t, r, 201)
	if r.Body["email"] != "ada@example.com" || r.Body["role"] != "customer" || r.Body["address"] != nil {
		t.Fatalf("user %v", r.Body)
	}
	if loc := r.Header.Get("Location"); loc != "/api/v1/users/"+r.Body["id"].(string) {
		t.Fatalf("Location %q for %v", loc, r.Body["id"])
	}
	for _, secret := range []string{"password", "password_hash", "PasswordHash", "disabled"} {
		if _, ok := r.Body[secret]; ok {
			t.Fatalf("user JSON leaks %q: %v", secret, r.Body)
		}
	}

	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/users", "", `{"email":"ADA@example.com","password":"another one","name":"Eve"}`), 409, "EMAIL_TAKEN")

	r = f.JSON(t, "POST", "/api/v1/auth/login", "", `{"email":"ada@example.com","password":"correct horse"}`)
	kittest.ExpectStatus(t, r, 200)
	if r.Body["token_type"] != "Bearer" || r.Body["expires_in"] != float64(3600) || r.Body["access_token"] == "" {
		t.Fatalf("login %v", r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("a token response may be cached: %v", r.Header)
	}
	if u, ok := r.Body["user"].(map[string]any); !ok || u["email"] != "ada@example.com" {
		t.Fatalf("login user %v", r.Body["user"])
	}

	wrong := f.JSON(t, "POST", "/api/v1/auth/login", "", `{"email":"ada@example.com","password":"wrong password"}`)
	unknown := f.JSON(t, "POST", "/api/v1/auth/login", "", `{"email":"nobody@example.com","password":"correct horse"}`)
	kittest.ExpectProblem(t, wrong, 401, "INVALID_CREDENTIALS")
	kittest.ExpectProblem(t, unknown, 401, "INVALID_CREDENTIALS")
	if wrong.Body["detail"] != unknown.Body["detail"] {
		t.Fatalf("failures differ: %v vs %v", wrong.Body, unknown.Body)
	}
}

func TestHTTPValidation(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.JSON(t, "POST", "/api/v1/users", "", `{"email":"nope","password":"short","name":""}`)
	kittest.ExpectProblem(t, r, 400, "VALIDATION_FAILED")
	errors, _ := r.Body["errors"].([]any)
	if len(errors) != 3 {
		t.Fatalf("want 3 field errors, got %v", r.Body["errors"])
	}
	first, _ := errors[0].(map[string]any)
	if first["field"] != "email" || first["message"] == "" {
		t.Fatalf("field error %v", first)
	}
}

func TestHTTPBadRequests(t *testing.T) {
	f := newHTTPFixture(t)
	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/users", "", `{"email":`), 400, "MALFORMED_JSON")
	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/users", "", `{"email":"a@b.co","password":"12345678","name":"A","admin":true}`), 400, "UNKNOWN_FIELD")
	kittest.ExpectProblem(t, f.Do(t, "POST", "/api/v1/users", "", http.Header{"Content-Type": {"text/plain"}}, `{}`), 415, "UNSUPPORTED_MEDIA_TYPE")
	big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/users", "", big), 413, "BODY_TOO_LARGE")
	kittest.ExpectProblem(t, f.JSON(t, "GET", "/api/v1/nowhere", "", ""), 404, "ROUTE_NOT_FOUND")
	r := f.JSON(t, "DELETE", "/api/v1/users/me", "", "")
	kittest.ExpectProblem(t, r, 405, "METHOD_NOT_ALLOWED")
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PATCH") {
		t.Fatalf("Allow %q", allow)
	}
}

func TestHTTPMeAndProfile(t *testing.T) {
	f := newHTTPFixture(t)
	kittest.ExpectProblem(t, f.JSON(t, "GET", "/api/v1/users/me", "", ""), 401, "UNAUTHENTICATED")
	kittest.ExpectStatus(t, f.JSON(t, "GET", "/api/v1/users/me", "not-a-jwt", ""), 401)
	f.register(t, "ada@example.com")
	tok := f.token(t, "ada@example.com", "correct horse")

	r := f.JSON(t, "GET", "/api/v1/users/me", tok, "")
	kittest.ExpectStatus(t, r, 200)
	if r.Body["email"] != "ada@example.com" {
		t.Fatalf("me %v", r.Body)
	}

	r = f.JSON(t, "PATCH", "/api/v1/users/me", tok, `{"name":"Ada L","address":{"line1":"1 Main","city":"Paris","postal_code":"75001","country":"FR"}}`)
	kittest.ExpectStatus(t, r, 200)
	if addr, _ := r.Body["address"].(map[string]any); r.Body["name"] != "Ada L" || addr["country"] != "FR" {
		t.Fatalf("patched %v", r.Body)
	}
	r = f.JSON(t, "PATCH", "/api/v1/users/me", tok, `{"name":"Still Ada"}`)
	if r.Body["address"] == nil {
		t.Fatalf("absent address cleared it: %v", r.Body)
	}
	r = f.JSON(t, "PATCH", "/api/v1/users/me", tok, `{"address":null}`)
	kittest.ExpectStatus(t, r, 200)
	if r.Body["address"] != nil {
		t.Fatalf("address:null kept it: %v", r.Body)
	}
	kittest.ExpectProblem(t, f.JSON(t, "PATCH", "/api/v1/users/me", tok, `{"password":"new password"}`), 400, "VALIDATION_FAILED")
	kittest.ExpectProblem(t, f.JSON(t, "PATCH", "/api/v1/users/me", tok, `{"address":{"line1":"x","bogus":1}}`), 400, "UNKNOWN_FIELD")
	kittest.ExpectProblem(t, f.JSON(t, "PATCH", "/api/v1/users/me", "", `{"name":"x"}`), 401, "UNAUTHENTICATED")
}

func TestHTTPGetUserByID(t *testing.T) {
	f := newHTTPFixture(t)
	ada := f.register(t, "ada@example.com")
	f.register(t, "eve@example.com")
	if _, err := f.svc.EnsureAdmin(context.Background(), "root@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	kittest.ExpectStatus(t, f.JSON(t, "GET", "/api/v1/users/"+ada.ID, f.token(t, "ada@example.com", "correct horse"), ""), 200)
	kittest.ExpectProblem(t, f.JSON(t, "GET", "/api/v1/users/"+ada.ID, f.token(t, "eve@example.com", "correct horse"), ""), 403, "PERMISSION_DENIED")
	admin := f.token(t, "root@example.com", "correct horse")
	kittest.ExpectStatus(t, f.JSON(t, "GET", "/api/v1/users/"+ada.ID, admin, ""), 200)
	kittest.ExpectProblem(t, f.JSON(t, "GET", "/api/v1/users/6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", admin, ""), 404, "USER_NOT_FOUND")
	kittest.ExpectProblem(t, f.JSON(t, "GET", "/api/v1/users/not-a-uuid", admin, ""), 400, "VALIDATION_FAILED")
}

func TestHTTPDisabledUser(t *testing.T) {
	f := newHTTPFixture(t)
	u := f.register(t, "ada@example.com")
	if _, err := f.store.Update(context.Background(), u.ID, func(u *User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/auth/login", "", `{"email":"ada@example.com","password":"correct horse"}`), 403, "USER_DISABLED")
}

func TestHTTPJWKS(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.JSON(t, "GET", "/.well-known/jwks.json", "", "")
	kittest.ExpectStatus(t, r, 200)
	keys, _ := r.Body["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks %v", r.Body)
	}
	k := keys[0].(map[string]any)
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["kid"] != f.svc.JWKS().Keys[0].Kid {
		t.Fatalf("jwk %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("JWKS leaks the private key")
	}
}

// TestDomainErrorsUseClientReasons: the reasons users answers with are the
// ones users/client publishes, so a caller comparing with the constants
// never misses one.
func TestDomainErrorsUseClientReasons(t *testing.T) {
	declared := client.Reasons()
	for _, e := range []*errs.Error{ErrEmailTaken, ErrInvalidCredentials, ErrUserDisabled, ErrNotFound} {
		if !slices.Contains(declared, e.Reason) {
			t.Errorf("%s is not declared in users/client", e.Reason)
		}
	}
	if len(declared) != 4 {
		t.Errorf("users/client declares %v; a reason the service never returns misleads callers", declared)
	}
}
