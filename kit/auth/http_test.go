package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

func TestMiddleware(t *testing.T) {
	pub, priv := newKey(t)
	_, wrong := newKey(t)
	v := NewVerifier(StaticKeys(pub))
	router := httpx.NewRouter()
	router.HandleFunc("/public", func(w http.ResponseWriter, r *http.Request) {
		_, has := ClaimsFrom(r.Context())
		httpx.WriteJSON(w, 200, map[string]bool{"claims": has})
	})
	router.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		c, err := RequireUser(r.Context())
		if err != nil {
			httpx.WriteProblem(w, r, err)
			return
		}
		httpx.WriteJSON(w, 200, map[string]string{"sub": c.Subject, "token": TokenFrom(r.Context())})
	})
	router.HandleFunc("/admin", func(w http.ResponseWriter, r *http.Request) {
		if _, err := RequireAdmin(r.Context()); err != nil {
			httpx.WriteProblem(w, r, err)
			return
		}
		w.WriteHeader(204)
	})
	h := v.Middleware(router)
	do := func(path, authz string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	problem := func(rec *httptest.ResponseRecorder) map[string]any {
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
	customer := sign(t, priv, claimsFor("u1", RoleCustomer))
	admin := sign(t, priv, claimsFor("a1", RoleAdmin))

	if rec := do("/public", ""); rec.Code != 200 || rec.Body.String() != "{\"claims\":false}\n" {
		t.Fatalf("anonymous public: %d %s", rec.Code, rec.Body)
	}
	if rec := do("/public", "Basic dXNlcjpwdw=="); rec.Code != 200 {
		t.Fatalf("other scheme should pass through: %d", rec.Code)
	}
	rec := do("/me", "Bearer "+customer)
	var me map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &me)
	if rec.Code != 200 || me["sub"] != "u1" || me["token"] != customer {
		t.Fatalf("customer /me: %d %s", rec.Code, rec.Body)
	}

	// No token on a protected route: the route's own 401.
	rec = do("/me", "")
	if p := problem(rec); rec.Code != 401 || p["code"] != errs.ReasonUnauth || rec.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("anonymous /me: %d %v %v", rec.Code, p, rec.Header())
	}

	// An invalid token is refused even on a public route.
	for _, bad := range []string{"Bearer " + sign(t, wrong, claimsFor("u1", RoleAdmin)), "Bearer ", "Bearer x.y.z"} {
		rec = do("/public", bad)
		p := problem(rec)
		if rec.Code != 401 || p["code"] != errs.ReasonUnauth || p["instance"] != "/public" {
			t.Fatalf("invalid token: %d %v", rec.Code, p)
		}
		if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Fatalf("WWW-Authenticate = %q", got)
		}
	}

	rec = do("/admin", "Bearer "+customer)
	if p := problem(rec); rec.Code != 403 || p["code"] != errs.ReasonForbidden {
		t.Fatalf("customer on admin route: %d %v", rec.Code, p)
	}
	if rec := do("/admin", "Bearer "+admin); rec.Code != 204 {
		t.Fatalf("admin on admin route: %d %s", rec.Code, rec.Body)
	}
}
