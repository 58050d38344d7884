package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]struct {
		tok string
		ok  bool
	}{
		"":                   {"", false},
		"Basic dXNlcjpwdw==": {"", false},
		"Bearer abc":         {"abc", true},
		"bearer  abc ":       {"abc", true},
		"Bearer":             {"", true},
		"Bearerabc":          {"", false},
	} {
		tok, ok := BearerToken(in)
		if tok != want.tok || ok != want.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", in, tok, ok, want.tok, want.ok)
		}
	}
}

// testRoutes are a public route, a login-like public route that answers
// 401 for its own reason, and routes needing a user or an admin, behind
// v's middleware. /me is a go-kit endpoint, as the services' routes are.
func testRoutes(v *Verifier) http.Handler {
	router := httpx.NewRouter()
	router.HandleFunc("/public", func(w http.ResponseWriter, r *http.Request) {
		_, has := ClaimsFrom(r.Context())
		httpx.WriteJSON(w, 200, map[string]bool{"claims": has})
	})
	router.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, r, errs.New(errs.Unauthenticated, "INVALID_CREDENTIALS", "invalid email or password"))
	})
	me := func(ctx context.Context, _ any) (any, error) {
		c, err := RequireUser(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]string{"sub": c.Subject, "token": TokenFrom(ctx)}, nil
	}
	router.Handle("/me", httpx.Handler[struct{}, map[string]string](me,
		func(context.Context, *http.Request) (struct{}, error) { return struct{}{}, nil }, 200))
	router.HandleFunc("/admin", func(w http.ResponseWriter, r *http.Request) {
		if _, err := RequireAdmin(r.Context()); err != nil {
			httpx.WriteProblem(w, r, err)
			return
		}
		w.WriteHeader(204)
	})
	return v.Middleware(router)
}

func serve(h http.Handler, path, authz string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if rec.Header().Get("Content-Type") != httpx.ProblemContentType {
		t.Fatalf("not a problem: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMiddleware(t *testing.T) {
	pub, priv := newKey(t)
	h := testRoutes(NewVerifier(StaticKeys(pub)))
	customer := sign(t, priv, claimsFor(user1, RoleCustomer))
	admin := sign(t, priv, claimsFor(admin1, RoleAdmin))

	if rec := serve(h, "/public", ""); rec.Code != 200 || rec.Body.String() != "{\"claims\":false}\n" {
		t.Fatalf("anonymous public: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(h, "/public", "Bearer "+customer); rec.Code != 200 || rec.Body.String() != "{\"claims\":true}\n" {
		t.Fatalf("customer public: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(h, "/public", "Basic dXNlcjpwdw=="); rec.Code != 200 {
		t.Fatalf("other scheme should pass through: %d", rec.Code)
	}
	rec := serve(h, "/me", "Bearer "+customer)
	var me map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &me)
	if rec.Code != 200 || me["sub"] != user1 || me["token"] != customer {
		t.Fatalf("customer /me: %d %s", rec.Code, rec.Body)
	}

	// No token on a protected route: the route's own 401, whose challenge
	// carries no error code (RFC 6750 section 3.1).
	rec = serve(h, "/me", "")
	if p := problemOf(t, rec); rec.Code != 401 || p["code"] != errs.ReasonUnauth || rec.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("anonymous /me: %d %v %v", rec.Code, p, rec.Header())
	}

	rec = serve(h, "/admin", "Bearer "+customer)
	if p := problemOf(t, rec); rec.Code != 403 || p["code"] != errs.ReasonForbidden {
		t.Fatalf("customer on admin route: %d %v", rec.Code, p)
	}
	if rec := serve(h, "/admin", "Bearer "+admin); rec.Code != 204 {
		t.Fatalf("admin on admin route: %d %s", rec.Code, rec.Body)
	}
}

// TestMiddlewareRefusedTokens: a token that fails verification locks the
// client out of nothing public, and on a protected route gives 401
// UNAUTHENTICATED saying why, with the invalid_token challenge.
func TestMiddlewareRefusedTokens(t *testing.T) {
	pub, priv := newKey(t)
	_, wrong := newKey(t)
	h := testRoutes(NewVerifier(StaticKeys(pub)))

	for _, tc := range []struct {
		name, authz, description string
	}{
		{"expired", "Bearer " + sign(t, priv, expiredClaimsFor(user1, RoleAdmin)), "token expired"},
		{"forged", "Bearer " + sign(t, wrong, claimsFor(user1, RoleAdmin)), "invalid token"},
		{"empty", "Bearer ", "invalid token"},
		{"garbage", "Bearer x.y.z", "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(h, "/public", tc.authz)
			if rec.Code != 200 || rec.Body.String() != "{\"claims\":false}\n" {
				t.Fatalf("public route: %d %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != "" {
				t.Fatalf("challenge on a 200: %q", got)
			}

			// A public route's own 401 keeps its own challenge: the token
			// is not what failed there.
			rec = serve(h, "/login", tc.authz)
			if p := problemOf(t, rec); rec.Code != 401 || p["code"] != "INVALID_CREDENTIALS" || rec.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Fatalf("login: %d %v %v", rec.Code, p, rec.Header())
			}

			want := `Bearer error="invalid_token", error_description="` + tc.description + `"`
			for _, path := range []string{"/me", "/admin"} {
				rec = serve(h, path, tc.authz)
				p := problemOf(t, rec)
				if rec.Code != 401 || p["code"] != errs.ReasonUnauth || p["type"] != "/problems/unauthenticated" ||
					p["detail"] != tc.description || p["instance"] != path {
					t.Fatalf("%s: %d %v", path, rec.Code, p)
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != want {
					t.Fatalf("%s: WWW-Authenticate = %q, want %q", path, got, want)
				}
			}
		})
	}
}

// TestMiddlewareKeysUnavailable: when the signing keys cannot be fetched,
// public routes still serve, and protected ones answer 503 (retry), not
// 401 (which would tell the client to drop a token that may be valid).
func TestMiddlewareKeysUnavailable(t *testing.T) {
	_, priv := newKey(t)
	h := testRoutes(NewVerifier(keysDown()))
	token := "Bearer " + sign(t, priv, claimsFor(user1, RoleCustomer))

	if rec := serve(h, "/public", token); rec.Code != 200 {
		t.Fatalf("public route with keys down: %d %s", rec.Code, rec.Body)
	}
	rec := serve(h, "/me", token)
	p := problemOf(t, rec)
	if rec.Code != 503 || p["code"] != errs.ReasonUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("protected route with keys down: %d %v %v", rec.Code, p, rec.Header())
	}
	if rec.Header().Get("WWW-Authenticate") != "" || strings.Contains(rec.Body.String(), "10.0.0.7") {
		t.Fatalf("protected route with keys down: %v %s", rec.Header(), rec.Body)
	}
}

func TestInvalidTokenChallenge(t *testing.T) {
	for in, want := range map[string]string{
		"token expired":         `Bearer error="invalid_token", error_description="token expired"`,
		"":                      `Bearer error="invalid_token"`,
		"say \"hi\"\\\r\nnow é": `Bearer error="invalid_token", error_description="say hinow "`,
	} {
		if got := invalidTokenChallenge(in); got != want {
			t.Errorf("invalidTokenChallenge(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTokenError(t *testing.T) {
	ctx := t.Context()
	if TokenError(ctx) != nil {
		t.Fatal("TokenError without a token")
	}
	refused := errs.New(errs.Unauthenticated, errs.ReasonUnauth, "token expired")
	ctx = withFailure(ctx, &failure{err: refused})
	if TokenError(ctx) != refused {
		t.Fatalf("TokenError = %v", TokenError(ctx))
	}
	if _, err := RequireUser(ctx); err != refused {
		t.Fatalf("RequireUser = %v, want the refusal", err)
	}
	if _, err := RequireAdmin(ctx); err != refused {
		t.Fatalf("RequireAdmin = %v, want the refusal", err)
	}
}

// TestMiddlewareRefusesMalformedClaims: every token breaking a claim or
// header rule is a 401 UNAUTHENTICATED on a protected route, never a 500
// from a handler trusting it (a non-UUID sub was one on /users/me), and
// is ignored on a public one.
func TestMiddlewareRefusesMalformedClaims(t *testing.T) {
	pub, priv := newKey(t)
	h := testRoutes(NewVerifier(StaticKeys(pub)))
	for name, tok := range refusedTokens(t, pub, priv) {
		t.Run(name, func(t *testing.T) {
			rec := serve(h, "/me", "Bearer "+tok)
			p := problemOf(t, rec)
			if rec.Code != 401 || p["code"] != errs.ReasonUnauth {
				t.Fatalf("/me: %d %v", rec.Code, p)
			}
			if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="invalid_token"`) {
				t.Fatalf("/me: WWW-Authenticate = %q", got)
			}
			if rec := serve(h, "/public", "Bearer "+tok); rec.Code != 200 || rec.Body.String() != "{\"claims\":false}\n" {
				t.Fatalf("/public: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
