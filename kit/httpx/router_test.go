package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

func testRouter() http.Handler {
	r := NewRouter()
	r.HandleFunc("/api/v1/products", ok).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/products", ok).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/products/{id}", ok).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/products/{id}", ok).Methods(http.MethodPatch)
	r.HandleFunc("/api/v1/products/{id:[0-9]+}", ok).Methods(http.MethodDelete) // numeric ids only
	sub := r.PathPrefix("/api/v1/orders").Subrouter()
	sub.HandleFunc("/{id}/cancel", ok).Methods(http.MethodPost)
	sub.HandleFunc("/{id}", ok).Methods(http.MethodGet)
	return r
}

func TestRouterNotFoundProblem(t *testing.T) {
	rec := httptest.NewRecorder()
	testRouter().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/nope", nil))
	p := problemBody(t, rec)
	if rec.Code != 404 || p["code"] != ReasonRouteNotFound || p["instance"] != "/api/v1/nope" {
		t.Fatalf("%d %v", rec.Code, p)
	}
}

func TestRouterMethodNotAllowedProblemWithAllow(t *testing.T) {
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodDelete, "/api/v1/products", "GET, POST"},
		{http.MethodPut, "/api/v1/products/abc", "GET, PATCH"},
		{http.MethodPut, "/api/v1/products/42", "GET, PATCH, DELETE"},
		{http.MethodGet, "/api/v1/orders/o1/cancel", "POST"},
		{http.MethodDelete, "/api/v1/orders/o1", "GET"},
	}
	h := testRouter()
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 405", tt.method, tt.path, rec.Code)
			continue
		}
		if got := rec.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
		if p := problemBody(t, rec); p["code"] != ReasonMethodNotAllowed || p["status"] != 405.0 {
			t.Errorf("%s %s: problem %v", tt.method, tt.path, p)
		}
	}
}

func TestRouterMatchedRouteStillServes(t *testing.T) {
	rec := httptest.NewRecorder()
	testRouter().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/orders/o1/cancel", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
}

// TestRouterMethodsBeforePath covers routes declared Methods(...).Path(...)
// inside a subrouter, the style the services use.
func TestRouterMethodsBeforePath(t *testing.T) {
	r := NewRouter()
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Methods(http.MethodPost).Path("/users").HandlerFunc(ok)
	api.Methods(http.MethodGet).Path("/users/me").HandlerFunc(ok)
	api.Methods(http.MethodPatch).Path("/users/me").HandlerFunc(ok)
	api.Methods(http.MethodGet).Path("/users/{id}").HandlerFunc(ok)
	r.Methods(http.MethodGet).Path("/.well-known/jwks.json").HandlerFunc(ok)

	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/api/v1/users", 405, "POST"},
		{http.MethodDelete, "/api/v1/users/me", 405, "GET, PATCH"},
		{http.MethodPost, "/api/v1/users/u1", 405, "GET"},
		{http.MethodPost, "/.well-known/jwks.json", 405, "GET"},
		{http.MethodGet, "/api/v1/nope", 404, ""},
		{http.MethodGet, "/api/v2/users", 404, ""},
		{http.MethodPatch, "/api/v1/users/me", 200, ""},
	} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", tt.method, tt.path, rec.Code, rec.Header().Get("Allow"), tt.status, tt.allow)
		}
	}
}

func TestHeadOnAGetRouteIsServedAsTheGet(t *testing.T) {
	r := NewRouter()
	r.Methods(http.MethodGet).Path("/things/{id}").HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Thing", "yes")
		WriteJSON(w, http.StatusOK, map[string]string{"id": "1"})
	})
	r.Methods(http.MethodPost).Path("/only-post").HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(r)
	defer srv.Close()

	resp, err := http.Head(srv.URL + "/things/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Thing") != "yes" {
		t.Fatalf("HEAD on a GET route = %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Head(srv.URL + "/only-post")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("HEAD on a POST-only route = %d, want 405", resp.StatusCode)
	}
}

// TestNonCanonicalPathsAreProblemsNotRedirects: gorilla/mux used to answer
// these with its own 301 text/plain redirect.
func TestNonCanonicalPathsAreProblemsNotRedirects(t *testing.T) {
	for _, c := range []struct{ path, canonical string }{
		{"//api/v1/products", "/api/v1/products"},
		{"/api/v1/orders/../products", "/api/v1/products"},
		{"/api/v1/./products", "/api/v1/products"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = c.path
		testRouter().ServeHTTP(rec, req)
		p := problemBody(t, rec)
		if rec.Code != 404 || p["code"] != ReasonRouteNotFound || !strings.Contains(p["detail"].(string), c.canonical) {
			t.Errorf("%s: %d %v", c.path, rec.Code, p)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			t.Errorf("%s: redirected to %q", c.path, loc)
		}
	}
}
