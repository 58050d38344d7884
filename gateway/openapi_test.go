package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/kitshop/kitshop/kit/rest"
	"github.com/kitshop/kitshop/kit/rest/resttest"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// testRouter is the gateway's router over clients that are never called:
// only the routes matter here.
func testRouter(t *testing.T) *mux.Router {
	t.Helper()
	var b backends
	b.users = struct{ usersclient.Client }{}
	b.products = struct{ productsclient.Client }{}
	b.orders = struct{ ordersclient.Client }{}
	b.payments = struct{ paymentsclient.Client }{}
	r, err := apiRouter(apiRoutes(&b))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The document lists every route the gateway serves, and nothing more.
func TestOpenAPIListsExactlyTheServedRoutes(t *testing.T) {
	r := testRouter(t)
	w := resttest.Do(t, r, "GET", openAPIPath, "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	documented, err := rest.OpenAPIOperations(w.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var served []rest.Operation
	err = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return err
		}
		for _, m := range methods {
			served = append(served, rest.Operation{Method: m, Path: rest.OpenAPIPath(tpl)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	key := func(o rest.Operation) string { return o.String() }
	want := slices.Sorted(slices.Values(mapTo(served, key)))
	got := slices.Sorted(slices.Values(mapTo(documented, key)))
	if !slices.Equal(got, want) {
		t.Fatalf("documented %v\nserved     %v", got, want)
	}
	if len(got) < 17 {
		t.Fatalf("only %d operations: API.md has 17 routes besides this document", len(got))
	}
}

func mapTo[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// Who may call a route is read from its guard: public, a token, or the
// admin role.
func TestOpenAPISecurityFollowsTheGuards(t *testing.T) {
	w := resttest.Do(t, testRouter(t), "GET", openAPIPath, "")
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		want         string
	}{
		{"get", "/api/v1/products", "public"},
		{"post", "/api/v1/auth/login", "public"},
		{"get", "/api/v1/users/me", "bearer"},
		{"post", "/api/v1/orders", "bearer"},
		{"get", "/api/v1/payments/{id}", "bearer"},
		{"post", "/api/v1/products", "admin"},
		{"post", "/api/v1/orders/{id}/ship", "admin"},
	} {
		sec := doc.Paths[c.path][c.method].Security
		got := "public"
		for _, req := range sec {
			if roles, ok := req["bearerAuth"]; ok {
				got = "bearer"
				if slices.Contains(roles, "admin") {
					got = "admin"
				}
			}
		}
		if got != c.want {
			t.Errorf("%s %s: %s (security %v), want %s", strings.ToUpper(c.method), c.path, got, sec, c.want)
		}
	}
}

func TestOpenAPIAnswersNotModifiedToItsETag(t *testing.T) {
	r := testRouter(t)
	w := resttest.Do(t, r, "GET", openAPIPath, "")
	w2 := resttest.Do(t, r, "GET", openAPIPath, "", "If-None-Match", w.Header().Get("ETag"))
	if w2.Code != http.StatusNotModified || w2.Body.Len() != 0 {
		t.Fatalf("%d %q", w2.Code, w2.Body)
	}
}
