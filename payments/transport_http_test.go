package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/mw"
)

// issuer signs tokens the way the users service does, for a verifier that
// trusts its key.
type issuer struct {
	key      ed25519.PrivateKey
	verifier *auth.Verifier
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{key: key, verifier: auth.NewVerifier(auth.StaticKeys(pub))}
}

func (i *issuer) token(t *testing.T, sub, role string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: auth.Issuer, Subject: sub,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Role: role,
	})
	pub := ed25519.PublicKey(i.key[32:]) // an Ed25519 private key ends with its public key
	tok.Header["kid"] = auth.KeyID(pub)
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHTTPGetPayment(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	iss := newIssuer(t)
	srv := httptest.NewServer(NewHTTPHandler(MakeEndpoints(f.svc, mw.Chain{Service: "payments"}), iss.verifier))
	t.Cleanup(srv.Close)

	req := chargeReq(TestCardApproved)
	p, err := f.svc.Charge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, method, path, token string) (int, http.Header, map[string]any) {
		t.Helper()
		r, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
			}
		}
		return resp.StatusCode, resp.Header, body
	}
	path := "/api/v1/payments/" + p.ID
	owner := iss.token(t, req.UserID, auth.RoleCustomer)

	t.Run("owner", func(t *testing.T) {
		status, h, body := get(t, http.MethodGet, path, owner)
		if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); status != http.StatusOK || mt != "application/json" {
			t.Fatalf("status %d, content type %q, want 200 JSON", status, h.Get("Content-Type"))
		}
		keys := make([]string, 0, len(body))
		for k := range body {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"amount_cents", "card_brand", "card_last4", "created_at", "currency", "decline_code",
			"id", "order_id", "refunded_cents", "status", "updated_at", "user_id"}
		if !slices.Equal(keys, want) {
			t.Fatalf("fields %v, want exactly %v", keys, want)
		}
		if body["id"] != p.ID || body["user_id"] != req.UserID || body["order_id"] != req.OrderID ||
			body["amount_cents"] != float64(2500) || body["currency"] != "EUR" || body["status"] != "CAPTURED" ||
			body["card_brand"] != "visa" || body["card_last4"] != "4242" || body["refunded_cents"] != float64(0) ||
			body["decline_code"] != "" || body["created_at"] != "2030-05-17T10:30:00Z" {
			t.Fatalf("body %v does not match %+v", body, p)
		}
	})
	t.Run("admin", func(t *testing.T) {
		status, _, body := get(t, http.MethodGet, path, iss.token(t, uuid.NewString(), auth.RoleAdmin))
		if status != http.StatusOK || body["id"] != p.ID {
			t.Fatalf("status %d, body %v; want 200 with the payment", status, body)
		}
	})
	for name, tc := range map[string]struct {
		path, token, method string
		status              int
		code                string
	}{
		"another user": {path, iss.token(t, uuid.NewString(), auth.RoleCustomer), http.MethodGet, 404, "NOT_FOUND"},
		"unknown id":   {"/api/v1/payments/" + uuid.NewString(), owner, http.MethodGet, 404, "NOT_FOUND"},
		"no token":     {path, "", http.MethodGet, 401, "UNAUTHENTICATED"},
		"bad token":    {path, owner + "x", http.MethodGet, 401, "UNAUTHENTICATED"},
		"malformed id": {"/api/v1/payments/nope", owner, http.MethodGet, 400, "VALIDATION_FAILED"},
	} {
		t.Run(name, func(t *testing.T) {
			status, h, body := get(t, tc.method, tc.path, tc.token)
			mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
			if status != tc.status || body["code"] != tc.code || mt != "application/problem+json" {
				t.Fatalf("status %d (%s), body %v; want %d %s problem", status, h.Get("Content-Type"), body, tc.status, tc.code)
			}
			if _, leaked := body["user_id"]; leaked {
				t.Fatalf("problem leaks payment data: %v", body)
			}
		})
	}
	t.Run("wrong method", func(t *testing.T) {
		status, h, _ := get(t, http.MethodDelete, path, owner)
		if status != http.StatusMethodNotAllowed || h.Get("Allow") == "" {
			t.Fatalf("status %d, Allow %q; want 405 with Allow", status, h.Get("Allow"))
		}
	})
}
