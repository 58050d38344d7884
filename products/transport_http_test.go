package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/mw"
)

type httpFixture struct {
	*fixture
	srv             *httptest.Server
	admin, customer string
}

func newHTTPFixture(t *testing.T) *httpFixture {
	t.Helper()
	f := newFixture(t, newMemoryStore(), Options{})
	iss := newIssuer(t)
	srv := httptest.NewServer(NewHTTPHandler(MakeEndpoints(f.svc, mw.Chain{Service: "products"}), iss.verifier))
	t.Cleanup(srv.Close)
	return &httpFixture{fixture: f, srv: srv, admin: iss.token(t, auth.RoleAdmin), customer: iss.token(t, auth.RoleCustomer)}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (f *httpFixture) do(t *testing.T, method, path, token string, header http.Header, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
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
	t.Helper()
	return f.do(t, method, path, token, http.Header{"Content-Type": {"application/json"}}, body)
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

const lampJSON = `{"sku":"LAMP-1","name":"Brass lamp","description":"warm light","category":"lighting","price_cents":1999,"currency":"USD","stock":5}`

func TestHTTPCreateAndGet(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.json(t, "POST", "/api/v1/products", f.admin, lampJSON)
	expect(t, r, 201, "")
	want := map[string]any{"sku": "LAMP-1", "name": "Brass lamp", "description": "warm light", "category": "lighting",
		"price_cents": float64(1999), "currency": "USD", "stock": float64(5), "reserved": float64(0),
		"available": float64(5), "active": true}
	for k, v := range want {
		if r.body[k] != v {
			t.Fatalf("%s = %v, want %v (%v)", k, r.body[k], v, r.body)
		}
	}
	for _, k := range []string{"id", "created_at", "updated_at"} {
		if s, _ := r.body[k].(string); s == "" {
			t.Fatalf("missing %s: %v", k, r.body)
		}
	}
	if len(r.body) != 13 {
		t.Fatalf("product has %d members, want the 13 of API.md: %v", len(r.body), r.body)
	}
	id, _ := r.body["id"].(string)

	got := f.do(t, "GET", "/api/v1/products/"+id, "", nil, "")
	expect(t, got, 200, "")
	if got.body["id"] != id || got.body["available"] != float64(5) {
		t.Fatalf("get %v", got.body)
	}
	expect(t, f.do(t, "GET", "/api/v1/products/"+uuid.NewString(), "", nil, ""), 404, "PRODUCT_NOT_FOUND")
	expect(t, f.do(t, "GET", "/api/v1/products/not-a-uuid", "", nil, ""), 400, "VALIDATION_FAILED")

	expect(t, f.json(t, "POST", "/api/v1/products", f.admin, lampJSON), 409, "SKU_TAKEN")
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
		r := f.json(t, rt.method, rt.path, "", rt.body)
		expect(t, r, 401, "UNAUTHENTICATED")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s %s: 401 without WWW-Authenticate", rt.method, rt.path)
		}
		expect(t, f.json(t, rt.method, rt.path, "garbage", rt.body), 401, "UNAUTHENTICATED")
		expect(t, f.json(t, rt.method, rt.path, f.customer, rt.body), 403, "PERMISSION_DENIED")
		// The role is checked before the body is looked at.
		expect(t, f.json(t, rt.method, rt.path, f.customer, `{"bogus":`), 403, "PERMISSION_DENIED")
	}
	if got := f.get(t, p.ID); got.Name != p.Name || got.Stock != 5 {
		t.Fatalf("refused writes changed the product: %+v", got)
	}
	// Reads stay public even with a customer token.
	expect(t, f.do(t, "GET", path, f.customer, nil, ""), 200, "")
}

func TestHTTPPatch(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.create(t, "PATCH", 5)
	path := "/api/v1/products/" + p.ID
	r := f.json(t, "PATCH", path, f.admin, `{"name":"New name","price_cents":250,"active":false}`)
	expect(t, r, 200, "")
	if r.body["name"] != "New name" || r.body["price_cents"] != float64(250) || r.body["active"] != false ||
		r.body["category"] != p.Category {
		t.Fatalf("patched %v", r.body)
	}
	expect(t, f.json(t, "PATCH", path, f.admin, `{"price_cents":-1}`), 400, "VALIDATION_FAILED")
	expect(t, f.json(t, "PATCH", path, f.admin, `{"stock":1}`), 400, "UNKNOWN_FIELD")
	expect(t, f.json(t, "PATCH", "/api/v1/products/"+uuid.NewString(), f.admin, `{"name":"x"}`), 404, "PRODUCT_NOT_FOUND")
}

func TestHTTPStock(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.create(t, "STOCK", 5)
	path := "/api/v1/products/" + p.ID + "/stock"
	r := f.json(t, "POST", path, f.admin, `{"delta":3}`)
	expect(t, r, 200, "")
	if r.body["stock"] != float64(8) {
		t.Fatalf("stock %v", r.body)
	}
	if _, err := f.svc.ReserveInventory(t.Context(), reserveReq(item(p.ID, 6))); err != nil {
		t.Fatal(err)
	}
	r = f.json(t, "POST", path, f.admin, `{"delta":-3}`)
	expect(t, r, 409, "INSUFFICIENT_STOCK")
	if r.body["product_id"] != p.ID || r.body["available"] != "2" || r.body["requested"] != "3" {
		t.Fatalf("problem members %v", r.body)
	}
	expect(t, f.json(t, "POST", path, f.admin, `{}`), 400, "VALIDATION_FAILED")
	expect(t, f.json(t, "POST", path, f.admin, `{"delta":"3"}`), 400, "MALFORMED_JSON")

	keyed := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"restock-7"}}
	for range 2 {
		r = f.do(t, "POST", path, f.admin, keyed, `{"delta":10}`)
		expect(t, r, 200, "")
		if r.body["stock"] != float64(18) {
			t.Fatalf("keyed adjust applied twice? %v", r.body)
		}
	}
	expect(t, f.do(t, "POST", path, f.admin, keyed, `{"delta":11}`), 422, "IDEMPOTENCY_KEY_REUSED")
}

func TestHTTPSearch(t *testing.T) {
	f := newHTTPFixture(t)
	for _, sku := range []string{"S1", "S2", "S3"} {
		f.create(t, sku, 1)
	}
	r := f.do(t, "GET", "/api/v1/products?page_size=2&category=misc", "", nil, "")
	expect(t, r, 200, "")
	products, _ := r.body["products"].([]any)
	token, _ := r.body["next_page_token"].(string)
	if len(products) != 2 || token == "" || r.body["total_size"] != float64(3) {
		t.Fatalf("first page %v", r.body)
	}
	r = f.do(t, "GET", "/api/v1/products?page_size=2&category=misc&page_token="+url.QueryEscape(token), "", nil, "")
	expect(t, r, 200, "")
	if products, _ := r.body["products"].([]any); len(products) != 1 || r.body["next_page_token"] != "" {
		t.Fatalf("last page %v", r.body)
	}
	r = f.do(t, "GET", "/api/v1/products?q=nothing-matches", "", nil, "")
	expect(t, r, 200, "")
	if products, ok := r.body["products"].([]any); !ok || len(products) != 0 {
		t.Fatalf("empty result must be [], got %v", r.body)
	}

	expect(t, f.do(t, "GET", "/api/v1/products?page_token=garbage", "", nil, ""), 400, "INVALID_PAGE_TOKEN")
	expect(t, f.do(t, "GET", "/api/v1/products?category=other&page_token="+url.QueryEscape(token), "", nil, ""), 400, "INVALID_PAGE_TOKEN")
	expect(t, f.do(t, "GET", "/api/v1/products?min_price_cents=cheap", "", nil, ""), 400, "VALIDATION_FAILED")
	expect(t, f.do(t, "GET", "/api/v1/products?page_size=-1", "", nil, ""), 400, "VALIDATION_FAILED")
	expect(t, f.do(t, "GET", "/api/v1/products?min_price_cents=10&max_price_cents=5", "", nil, ""), 400, "VALIDATION_FAILED")
}

func TestHTTPBadRequests(t *testing.T) {
	f := newHTTPFixture(t)
	r := f.json(t, "POST", "/api/v1/products", f.admin, `{"sku":"","name":"","price_cents":-5,"currency":"usd"}`)
	expect(t, r, 400, "VALIDATION_FAILED")
	if errs, _ := r.body["errors"].([]any); len(errs) != 4 {
		t.Fatalf("want 4 field errors, got %v", r.body["errors"])
	}
	expect(t, f.json(t, "POST", "/api/v1/products", f.admin, `{"sku":"A","name":"A","currency":"USD"}`), 400, "VALIDATION_FAILED")
	expect(t, f.json(t, "POST", "/api/v1/products", f.admin, `{"sku":`), 400, "MALFORMED_JSON")
	expect(t, f.json(t, "POST", "/api/v1/products", f.admin, strings.Replace(lampJSON, `"sku"`, `"skew"`, 1)), 400, "UNKNOWN_FIELD")
	expect(t, f.do(t, "POST", "/api/v1/products", f.admin, http.Header{"Content-Type": {"text/plain"}}, lampJSON), 415, "UNSUPPORTED_MEDIA_TYPE")
	expect(t, f.do(t, "GET", "/api/v1/nothing", "", nil, ""), 404, "ROUTE_NOT_FOUND")
	r = f.do(t, "DELETE", "/api/v1/products/"+uuid.NewString(), f.admin, nil, "")
	expect(t, r, 405, "METHOD_NOT_ALLOWED")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PATCH") {
		t.Fatalf("Allow %q", allow)
	}
}
