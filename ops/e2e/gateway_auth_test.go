package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

// auth: tokens the gateway must refuse are refused there (401 before any
// backend is called), another customer's order and payment are 404
// NOT_FOUND as if they did not exist, and admin routes are 403 to
// customers.
func (s *storefront) auth(t *testing.T) {
	admin := s.adminToken(t)
	alice, bob := s.register(t, "Alice"), s.register(t, "Bob")
	order := s.send(t, http.MethodPost, "/api/v1/orders", alice.token,
		frontOrder(s.createProduct(t, admin, 5), 1, cardApproved)).want(t, http.StatusCreated)
	orderPath, paymentPath := "/api/v1/orders/"+order.str("id"), "/api/v1/payments/"+order.str("payment_id")

	platformKey, err := auth.LoadPrivateKey(s.p.jwtKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	platformKID := auth.KeyID(platformKey.Public().(ed25519.PublicKey))
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mint := func(key ed25519.PrivateKey, kid, sub, role string, iat, exp time.Time) string {
		return authtest.Mint(t, key, kid, sub, role, iat, exp)
	}
	refused := map[string]string{
		"a forged signature":                    frontForgeSignature(alice.token),
		"claims changed under the signature":    frontSwapPayload(alice.token, `{"sub":"`+alice.id+`","role":"admin","iss":"kitshop-users","iat":`+frontUnix(now)+`,"exp":`+frontUnix(now.Add(time.Hour))+`}`),
		"expired, signed by the platform's key": mint(platformKey, platformKID, alice.id, auth.RoleCustomer, now.Add(-2*time.Hour), now.Add(-time.Hour)),
		"signed by another key":                 mint(otherKey, "", alice.id, auth.RoleCustomer, now, now.Add(time.Hour)),
		"another key under the platform's kid":  mint(otherKey, platformKID, alice.id, auth.RoleCustomer, now, now.Add(time.Hour)),
		"admin, signed by another key":          mint(otherKey, auth.KeyID(otherKey.Public().(ed25519.PublicKey)), alice.id, auth.RoleAdmin, now, now.Add(time.Hour)),
		"alg none": base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
			strings.Split(alice.token, ".")[1] + ".",
		"not a JWT": "not-a-token",
	}
	// What the gateway refuses never reaches a backend: the services'
	// request counters do not move.
	before := s.backendCalls(t)
	if before["users.GetUser"] == 0 || before["orders.GetOrder"] == 0 || before["products.CreateProduct"] == 0 {
		t.Fatalf("no gRPC calls counted (%v): the check below would prove nothing", before)
	}
	for name, token := range refused {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct{ method, path, body string }{
				{http.MethodGet, "/api/v1/users/me", ""},
				{http.MethodGet, orderPath, ""},
				{http.MethodGet, paymentPath, ""},
				{http.MethodPost, "/api/v1/products", `{"sku":"EVIL-1","name":"x","description":"","category":"x","price_cents":1,"currency":"USD","stock":1}`},
				{http.MethodPost, orderPath + "/ship", ""},
			} {
				r := s.send(t, c.method, c.path, token, c.body).wantProblem(t, http.StatusUnauthorized, errs.ReasonUnauth)
				if ch := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer error="invalid_token"`) {
					t.Errorf("%s %s: WWW-Authenticate %q, want an invalid_token challenge", c.method, c.path, ch)
				}
			}
		})
	}
	if after := s.backendCalls(t); !maps.Equal(after, before) {
		t.Errorf("backends served %v calls while the gateway refused tokens (before %v)", after, before)
	}

	t.Run("no token on a protected route", func(t *testing.T) {
		for _, path := range []string{"/api/v1/users/me", "/api/v1/orders", orderPath, paymentPath} {
			r := s.send(t, http.MethodGet, path, "", "").wantProblem(t, http.StatusUnauthorized, errs.ReasonUnauth)
			if r.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("GET %s: WWW-Authenticate %q, want Bearer", path, r.Header.Get("WWW-Authenticate"))
			}
		}
	})
	t.Run("another customer's order and payment do not exist", func(t *testing.T) {
		nobodyOrder := s.send(t, http.MethodGet, "/api/v1/orders/"+uuid.NewString(), bob.token, "").
			wantProblem(t, http.StatusNotFound, errs.ReasonNotFound)
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, orderPath}, {http.MethodPost, orderPath + "/cancel"}, {http.MethodGet, paymentPath},
		} {
			r := s.send(t, c.method, c.path, bob.token, "").wantProblem(t, http.StatusNotFound, errs.ReasonNotFound)
			if r.Body["title"] != nobodyOrder.Body["title"] {
				t.Errorf("%s %s: %s, unlike a missing order's %s", c.method, c.path, r.Raw, nobodyOrder.Raw)
			}
		}
		// Alice's order is untouched by Bob's cancel.
		if got := s.send(t, http.MethodGet, orderPath, alice.token, "").want(t, http.StatusOK).str("status"); got != "CONFIRMED" {
			t.Errorf("alice's order is %s after bob's attempts", got)
		}
		s.send(t, http.MethodGet, paymentPath, alice.token, "").want(t, http.StatusOK)
	})
	t.Run("admin routes refuse customers", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{http.MethodPost, "/api/v1/products", `{"sku":"EVIL-2","name":"x","description":"","category":"x","price_cents":1,"currency":"USD","stock":1}`},
			{http.MethodPost, orderPath + "/ship", ""},
			{http.MethodPost, "/api/v1/products/" + uuid.NewString() + "/stock", `{"delta":1000}`},
		} {
			s.send(t, c.method, c.path, alice.token, c.body).wantProblem(t, http.StatusForbidden, errs.ReasonForbidden)
		}
	})
	t.Run("public routes ignore a bad token", func(t *testing.T) {
		// kit/auth: a stale token never locks a client out of what anyone
		// may read, nor out of logging in again.
		expired := refused["expired, signed by the platform's key"]
		s.send(t, http.MethodGet, "/api/v1/products?page_size=1", expired, "").want(t, http.StatusOK)
		s.send(t, http.MethodPost, "/api/v1/auth/login", expired, `{"email":"`+alice.email+`","password":"correct horse"}`).want(t, http.StatusOK)
	})
	t.Run("a valid token still works", func(t *testing.T) {
		// The refusals above are not the gateway refusing everyone.
		valid := mint(platformKey, platformKID, alice.id, auth.RoleCustomer, now, now.Add(time.Hour))
		if got := s.send(t, http.MethodGet, "/api/v1/users/me", valid, "").want(t, http.StatusOK).str("id"); got != alice.id {
			t.Fatalf("users/me with a token minted by the platform's key: %s", got)
		}
	})
}

// backendCalls counts the calls of the methods behind the routes the
// refused tokens are sent to: only those, so background work (a saga
// resumed, a charge recovered) cannot move the count.
func (s *storefront) backendCalls(t testing.TB) map[string]float64 {
	t.Helper()
	calls := map[string]float64{}
	for _, m := range []string{"users.GetUser", "orders.GetOrder", "orders.ShipOrder", "payments.GetPayment", "products.CreateProduct"} {
		calls[m] = s.methodCalls(t, m)
	}
	return calls
}

// methodCalls counts the calls one backend method ("products.GetProduct")
// was asked to serve, over all its instances (kitshop_requests_total from
// their /metrics): those that reached the endpoint chain and those refused
// before it (kit/metrics' Transport constants).
func (s *storefront) methodCalls(t testing.TB, backend string) float64 {
	t.Helper()
	svc, method, _ := strings.Cut(backend, ".")
	var calls float64
	for _, in := range s.p.instances(svc) {
		for _, transport := range []string{"endpoint", "grpc"} {
			calls += s.p.metric(in, svc, `method="`+method+`"`, `transport="`+transport+`"`)
		}
	}
	return calls
}

// frontForgeSignature changes one byte in the middle of a token's signature.
func frontForgeSignature(token string) string {
	parts := strings.Split(token, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return token + "x"
	}
	sig[len(sig)/2] ^= 0x55
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// frontSwapPayload replaces a token's claims, keeping its header and signature.
func frontSwapPayload(token, claims string) string {
	parts := strings.Split(token, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + "." + parts[2]
}

func frontUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
