package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/mw"
)

type httpFixture struct {
	*fixture
	srv *httptest.Server
}

func newHTTPFixture(t *testing.T) *httpFixture {
	f := newFixture(t)
	h := NewHTTPHandler(MakeEndpoints(f.svc, mw.Chain{Service: "users"}), f.svc.JWKS(), f.verifier)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &httpFixture{fixture: f, srv: srv}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (f *httpFixture) do(t *testing.T, method, path, token, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
		}
	}
	return r
}

func (f *httpFixture) json(t *testing.T, method, path, token, body string) response {
	return f.do(t, method, path, token, "application/json", body)
}

func (f *httpFixture) token(t *testing.T, email, password string) string {
	t.Helper()
	r := f.json(t, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"`+password+`"}`)
	if r.status != 200 {
		t.Fatalf("login %s: %d %v", email, r.status, r.body)
	}
	return r.body["access_token"].(string)
}

func expect(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %v", r.status, status, r.body)
	}
	if code == "" {
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	if r.body["code"] != code || r.body["status"] != float64(status) {
		t.Fatalf("problem %v, want code %s", r.body, code)
	}
}

func TestHTTPRegisterAndLogin(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.json(t, "POST", "/api/v1/users", "", `{"email":"ada@example.com","password":"correct horse","name":"Ada"}`)
	expect(t, r, 201, "")
	if r.body["email"] != "ada@example.com" || r.body["role"] != "customer" || r.body["address"] != nil {
		t.Fatalf("user %v", r.body)
	}
	for _, secret := range []string{"password", "password_hash", "PasswordHash", "disabled"} {
		if _, ok := r.body[secret]; ok {
			t.Fatalf("user JSON leaks %q: %v", secret, r.body)
		}
	}

	expect(t, f.json(t, "POST", "/api/v1/users", "", `{"email":"ADA@example.com","password":"another one","name":"Eve"}`), 409, "EMAIL_TAKEN")

	r = f.json(t, "POST", "/api/v1/auth/login", "", `{"email":"ada@example.com","password":"correct horse"}`)
	expect(t, r, 200, "")
	if r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(3600) || r.body["access_token"] == "" {
		t.Fatalf("login %v", r.body)
	}
	if u, ok := r.body["user"].(map[string]any); !ok || u["email"] != "ada@example.com" {
		t.Fatalf("login user %v", r.body["user"])
	}

	wrong := f.json(t, "POST", "/api/v1/auth/login", "", `{"email":"ada@example.com","password":"wrong password"}`)
	unknown := f.json(t, "POST", "/api/v1/auth/login", "", `{"email":"nobody@example.com","password":"correct horse"}`)
	expect(t, wrong, 401, "INVALID_CREDENTIALS")
	expect(t, unknown, 401, "INVALID_CREDENTIALS")
	if wrong.body["detail"] != unknown.body["detail"] {
		t.Fatalf("failures differ: %v vs %v", wrong.body, unknown.body)
	}
}

func TestHTTPValidation(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.json(t, "POST", "/api/v1/users", "", `{"email":"nope","password":"short","name":""}`)
	expect(t, r, 400, "VALIDATION_FAILED")
	errors, _ := r.body["errors"].([]any)
	if len(errors) != 3 {
		t.Fatalf("want 3 field errors, got %v", r.body["errors"])
	}
	first, _ := errors[0].(map[string]any)
	if first["field"] != "email" || first["message"] == "" {
		t.Fatalf("field error %v", first)
	}
}

func TestHTTPBadRequests(t *testing.T) {
	f := newHTTPFixture(t)
	expect(t, f.json(t, "POST", "/api/v1/users", "", `{"email":`), 400, "MALFORMED_JSON")
	expect(t, f.json(t, "POST", "/api/v1/users", "", `{"email":"a@b.co","password":"12345678","name":"A","admin":true}`), 400, "UNKNOWN_FIELD")
	expect(t, f.do(t, "POST", "/api/v1/users", "", "text/plain", `{}`), 415, "UNSUPPORTED_MEDIA_TYPE")
	big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
	expect(t, f.json(t, "POST", "/api/v1/users", "", big), 413, "BODY_TOO_LARGE")
	expect(t, f.json(t, "GET", "/api/v1/nowhere", "", ""), 404, "ROUTE_NOT_FOUND")
	r := f.json(t, "DELETE", "/api/v1/users/me", "", "")
	expect(t, r, 405, "METHOD_NOT_ALLOWED")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PATCH") {
		t.Fatalf("Allow %q", allow)
	}
}

func TestHTTPMeAndProfile(t *testing.T) {
	f := newHTTPFixture(t)
	expect(t, f.json(t, "GET", "/api/v1/users/me", "", ""), 401, "UNAUTHENTICATED")
	expect(t, f.json(t, "GET", "/api/v1/users/me", "not-a-jwt", ""), 401, "")
	f.register(t, "ada@example.com")
	tok := f.token(t, "ada@example.com", "correct horse")

	r := f.json(t, "GET", "/api/v1/users/me", tok, "")
	expect(t, r, 200, "")
	if r.body["email"] != "ada@example.com" {
		t.Fatalf("me %v", r.body)
	}

	r = f.json(t, "PATCH", "/api/v1/users/me", tok, `{"name":"Ada L","address":{"line1":"1 Main","city":"Paris","postal_code":"75001","country":"FR"}}`)
	expect(t, r, 200, "")
	if addr, _ := r.body["address"].(map[string]any); r.body["name"] != "Ada L" || addr["country"] != "FR" {
		t.Fatalf("patched %v", r.body)
	}
	r = f.json(t, "PATCH", "/api/v1/users/me", tok, `{"name":"Still Ada"}`)
	if r.body["address"] == nil {
		t.Fatalf("absent address cleared it: %v", r.body)
	}
	r = f.json(t, "PATCH", "/api/v1/users/me", tok, `{"address":null}`)
	expect(t, r, 200, "")
	if r.body["address"] != nil {
		t.Fatalf("address:null kept it: %v", r.body)
	}
	expect(t, f.json(t, "PATCH", "/api/v1/users/me", tok, `{"password":"new password"}`), 400, "VALIDATION_FAILED")
	expect(t, f.json(t, "PATCH", "/api/v1/users/me", tok, `{"address":{"line1":"x","bogus":1}}`), 400, "UNKNOWN_FIELD")
	expect(t, f.json(t, "PATCH", "/api/v1/users/me", "", `{"name":"x"}`), 401, "UNAUTHENTICATED")
}

func TestHTTPGetUserByID(t *testing.T) {
	f := newHTTPFixture(t)
	ada := f.register(t, "ada@example.com")
	f.register(t, "eve@example.com")
	if _, err := f.svc.EnsureAdmin(context.Background(), "root@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	expect(t, f.json(t, "GET", "/api/v1/users/"+ada.ID, f.token(t, "ada@example.com", "correct horse"), ""), 200, "")
	expect(t, f.json(t, "GET", "/api/v1/users/"+ada.ID, f.token(t, "eve@example.com", "correct horse"), ""), 403, "PERMISSION_DENIED")
	admin := f.token(t, "root@example.com", "correct horse")
	expect(t, f.json(t, "GET", "/api/v1/users/"+ada.ID, admin, ""), 200, "")
	expect(t, f.json(t, "GET", "/api/v1/users/6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", admin, ""), 404, "USER_NOT_FOUND")
	expect(t, f.json(t, "GET", "/api/v1/users/not-a-uuid", admin, ""), 400, "VALIDATION_FAILED")
}

func TestHTTPDisabledUser(t *testing.T) {
	f := newHTTPFixture(t)
	u := f.register(t, "ada@example.com")
	if _, err := f.store.Update(context.Background(), u.ID, func(u *User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	expect(t, f.json(t, "POST", "/api/v1/auth/login", "", `{"email":"ada@example.com","password":"correct horse"}`), 403, "USER_DISABLED")
}

func TestHTTPJWKS(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.json(t, "GET", "/.well-known/jwks.json", "", "")
	expect(t, r, 200, "")
	keys, _ := r.body["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks %v", r.body)
	}
	k := keys[0].(map[string]any)
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["kid"] != f.svc.JWKS().Keys[0].Kid {
		t.Fatalf("jwk %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("JWKS leaks the private key")
	}
}
