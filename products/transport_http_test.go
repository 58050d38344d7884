package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
)

type httpFixture struct {
	*fixture
	kittest.HTTPClient
	admin, customer string
}

func newHTTPFixture(t *testing.T) *httpFixture {
	t.Helper()
	f := newFixture(t, newMemoryStore(), Options{})
	iss := authtest.NewIssuer(t)
	srv := httptest.NewServer(NewHTTPHandler(MakeEndpoints(f.svc, mw.Chain{Service: "products"}), iss.Verifier))
	t.Cleanup(srv.Close)
	return &httpFixture{fixture: f, HTTPClient: kittest.HTTPClient{BaseURL: srv.URL}, admin: iss.Token(t, uuid.NewString(), auth.RoleAdmin), customer: iss.Token(t, uuid.NewString(), auth.RoleCustomer)}
}

const lampJSON = `{"sku":"LAMP-1","name":"Brass lamp","description":"warm light","category":"lighting","price_cents":1999,"currency":"USD","stock":5}`

func TestHTTPCreateAndGet(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.JSON(t, "POST", "/api/v1/products", f.admin, lampJSON)
	kittest.ExpectStatus(t, r, 201)
	if loc, id := r.Header.Get("Location"), r.Body["id"]; id == nil || loc != "/api/v1/products/"+id.(string) {
		t.Fatalf("Location %q for product %v", loc, id)
	}
	want := map[string]any{"sku": "LAMP-1", "name": "Brass lamp", "description": "warm light", "category": "lighting",
		"price_cents": float64(1999), "currency": "USD", "stock": float64(5), "reserved": float64(0),
		"available": float64(5), "active": true}
	for k, v := range want {
		if r.Body[k] != v {
			t.Fatalf("%s = %v, want %v (%v)", k, r.Body[k], v, r.Body)
		}
	}
	for _, k := range []string{"id", "created_at", "updated_at"} {
		if s, _ := r.Body[k].(string); s == "" {
			t.Fatalf("missing %s: %v", k, r.Body)
		}
	}
	if len(r.Body) != 13 {
		t.Fatalf("product has %d members, want the 13 of API.md: %v", len(r.Body), r.Body)
	}
	id, _ := r.Body["id"].(string)

	got := f.Do(t, "GET", "/api/v1/products/"+id, "", nil, "")
	kittest.ExpectStatus(t, got, 200)
	if got.Body["id"] != id || got.Body["available"] != float64(5) {
		t.Fatalf("get %v", got.Body)
	}
	kittest.ExpectProblem(t, f.Do(t, "GET", "/api/v1/products/"+uuid.NewString(), "", nil, ""), 404, "PRODUCT_NOT_FOUND")
	kittest.ExpectProblem(t, f.Do(t, "GET", "/api/v1/products/not-a-uuid", "", nil, ""), 400, "VALIDATION_FAILED")

	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/products", f.admin, lampJSON), 409, "SKU_TAKEN")
}

func TestHTTPAdminRoutes(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.create(t, "ADM", 5)
	path := "/api/v1/products/" + p.ID
	routes := []struct{ method, path, body string }{
		{"POST", "/api/v1/products", lampJSON},
		{"PATCH", path, `{"name":"x"}`},
		{"POST", path + "/stock", `{"delta":1}`},
	}
	for _, rt := range routes {
		r := f.JSON(t, rt.method, rt.path, "", rt.body)
		kittest.ExpectProblem(t, r, 401, "UNAUTHENTICATED")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s %s: 401 without WWW-Authenticate", rt.method, rt.path)
		}
		kittest.ExpectProblem(t, f.JSON(t, rt.method, rt.path, "garbage", rt.body), 401, "UNAUTHENTICATED")
		kittest.ExpectProblem(t, f.JSON(t, rt.method, rt.path, f.customer, rt.body), 403, "PERMISSION_DENIED")
		// The role is checked before the body is looked at.
		kittest.ExpectProblem(t, f.JSON(t, rt.method, rt.path, f.customer, `{"bogus":`), 403, "PERMISSION_DENIED")
	}
	if got := f.get(t, p.ID); got.Name != p.Name || got.Stock != 5 {
		t.Fatalf("refused writes changed the product: %+v", got)
	}
	// Reads stay public even with a customer token.
	kittest.ExpectStatus(t, f.Do(t, "GET", path, f.customer, nil, ""), 200)
}

func TestHTTPPatch(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.create(t, "PATCH", 5)
	path := "/api/v1/products/" + p.ID
	r := f.JSON(t, "PATCH", path, f.admin, `{"name":"New name","price_cents":250,"active":false}`)
	kittest.ExpectStatus(t, r, 200)
	if r.Body["name"] != "New name" || r.Body["price_cents"] != float64(250) || r.Body["active"] != false ||
		r.Body["category"] != p.Category {
		t.Fatalf("patched %v", r.Body)
	}
	kittest.ExpectProblem(t, f.JSON(t, "PATCH", path, f.admin, `{"price_cents":-1}`), 400, "VALIDATION_FAILED")
	kittest.ExpectProblem(t, f.JSON(t, "PATCH", path, f.admin, `{"stock":1}`), 400, "UNKNOWN_FIELD")
	kittest.ExpectProblem(t, f.JSON(t, "PATCH", "/api/v1/products/"+uuid.NewString(), f.admin, `{"name":"x"}`), 404, "PRODUCT_NOT_FOUND")
}

func TestHTTPStock(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.create(t, "STOCK", 5)
	path := "/api/v1/products/" + p.ID + "/stock"
	r := f.JSON(t, "POST", path, f.admin, `{"delta":3}`)
	kittest.ExpectStatus(t, r, 200)
	if r.Body["stock"] != float64(8) {
		t.Fatalf("stock %v", r.Body)
	}
	if _, err := f.svc.ReserveInventory(t.Context(), reserveReq(item(p.ID, 6))); err != nil {
		t.Fatal(err)
	}
	r = f.JSON(t, "POST", path, f.admin, `{"delta":-3}`)
	kittest.ExpectProblem(t, r, 409, "INSUFFICIENT_STOCK")
	if r.Body["product_id"] != p.ID || r.Body["available"] != float64(2) || r.Body["requested"] != float64(3) {
		t.Fatalf("problem members %v", r.Body)
	}
	kittest.ExpectProblem(t, f.JSON(t, "POST", path, f.admin, `{}`), 400, "VALIDATION_FAILED")
	kittest.ExpectProblem(t, f.JSON(t, "POST", path, f.admin, `{"delta":"3"}`), 400, "MALFORMED_JSON")

	if r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("unkeyed adjustment marked replayed: %v", r.Header)
	}
	keyed := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"restock-7"}}
	for i := range 2 {
		r = f.Do(t, "POST", path, f.admin, keyed, `{"delta":10}`)
		kittest.ExpectStatus(t, r, 200)
		if r.Body["stock"] != float64(18) || len(r.Body) != 13 {
			t.Fatalf("keyed adjust applied twice? %v", r.Body)
		}
		// Only the repeat says it is one.
		if got, want := r.Header.Get("Idempotent-Replayed"), map[int]string{0: "", 1: "true"}[i]; got != want {
			t.Fatalf("attempt %d: Idempotent-Replayed %q, want %q", i+1, got, want)
		}
	}
	kittest.ExpectProblem(t, f.Do(t, "POST", path, f.admin, keyed, `{"delta":11}`), 422, "IDEMPOTENCY_KEY_REUSED")
}

// TestHTTPHasNoInternalRoutes: the saga's calls (reservations, restock)
// are internal gRPC methods with no HTTP route.
func TestHTTPHasNoInternalRoutes(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.create(t, "INT", 5)
	for _, path := range []string{"/api/v1/products/" + p.ID + "/restock", "/api/v1/restock", "/api/v1/reservations"} {
		r := f.JSON(t, "POST", path, f.admin, `{"idempotency_key":"k","items":[{"product_id":"`+p.ID+`","quantity":1}]}`)
		kittest.ExpectProblem(t, r, 404, "ROUTE_NOT_FOUND")
	}
	if got := f.get(t, p.ID); got.Stock != 5 {
		t.Fatalf("stock changed: %+v", got)
	}
}

func TestHTTPSearch(t *testing.T) {
	f := newHTTPFixture(t)
	for _, sku := range []string{"S1", "S2", "S3"} {
		f.create(t, sku, 1)
	}
	r := f.Do(t, "GET", "/api/v1/products?page_size=2&category=misc", "", nil, "")
	kittest.ExpectStatus(t, r, 200)
	products, _ := r.Body["products"].([]any)
	token, _ := r.Body["next_page_token"].(string)
	if len(products) != 2 || token == "" || r.Body["total_size"] != float64(3) {
		t.Fatalf("first page %v", r.Body)
	}
	r = f.Do(t, "GET", "/api/v1/products?page_size=2&category=misc&page_token="+url.QueryEscape(token), "", nil, "")
	kittest.ExpectStatus(t, r, 200)
	if products, _ := r.Body["products"].([]any); len(products) != 1 || r.Body["next_page_token"] != "" {
		t.Fatalf("last page %v", r.Body)
	}
	r = f.Do(t, "GET", "/api/v1/products?q=nothing-matches", "", nil, "")
	kittest.ExpectStatus(t, r, 200)
	if products, ok := r.Body["products"].([]any); !ok || len(products) != 0 {
		t.Fatalf("empty result must be [], got %v", r.Body)
	}

	kittest.ExpectProblem(t, f.Do(t, "GET", "/api/v1/products?page_token=garbage", "", nil, ""), 400, "INVALID_PAGE_TOKEN")
	kittest.ExpectProblem(t, f.Do(t, "GET", "/api/v1/products?category=other&page_token="+url.QueryEscape(token), "", nil, ""), 400, "INVALID_PAGE_TOKEN")
	kittest.ExpectProblem(t, f.Do(t, "GET", "/api/v1/products?min_price_cents=cheap", "", nil, ""), 400, "VALIDATION_FAILED")
	kittest.ExpectProblem(t, f.Do(t, "GET", "/api/v1/products?page_size=-1", "", nil, ""), 400, "VALIDATION_FAILED")
	kittest.ExpectProblem(t, f.Do(t, "GET", "/api/v1/products?min_price_cents=10&max_price_cents=5", "", nil, ""), 400, "VALIDATION_FAILED")
}

func TestHTTPBadRequests(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.JSON(t, "POST", "/api/v1/products", f.admin, `{"sku":"","name":"","price_cents":-5,"currency":"usd"}`)
	kittest.ExpectProblem(t, r, 400, "VALIDATION_FAILED")
	if errs, _ := r.Body["errors"].([]any); len(errs) != 4 {
		t.Fatalf("want 4 field errors, got %v", r.Body["errors"])
	}
	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/products", f.admin, `{"sku":"A","name":"A","currency":"USD"}`), 400, "VALIDATION_FAILED")
	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/products", f.admin, `{"sku":`), 400, "MALFORMED_JSON")
	kittest.ExpectProblem(t, f.JSON(t, "POST", "/api/v1/products", f.admin, strings.Replace(lampJSON, `"sku"`, `"skew"`, 1)), 400, "UNKNOWN_FIELD")
	kittest.ExpectProblem(t, f.Do(t, "POST", "/api/v1/products", f.admin, http.Header{"Content-Type": {"text/plain"}}, lampJSON), 415, "UNSUPPORTED_MEDIA_TYPE")
	kittest.ExpectProblem(t, f.Do(t, "GET", "/api/v1/nothing", "", nil, ""), 404, "ROUTE_NOT_FOUND")
	r = f.Do(t, "DELETE", "/api/v1/products/"+uuid.NewString(), f.admin, nil, "")
	kittest.ExpectProblem(t, r, 405, "METHOD_NOT_ALLOWED")
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PATCH") {
		t.Fatalf("Allow %q", allow)
	}
}
