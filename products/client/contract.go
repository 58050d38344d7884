package client

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest/contract"
)

// RunContract checks that baseURL (a products instance's HTTP port, or
// the gateway) keeps the Products part of API.md. adminToken and
// customerToken are access tokens the server accepts, with the admin and
// the customer role. The cases create products with unique SKUs and
// categories, and use unique idempotency keys, so they may run against a
// server that keeps its data.
// opts (contract.WithClient) choose how the requests are sent, e.g. with
// a client that trusts the gateway's CA.
func RunContract(t contract.T, baseURL, adminToken, customerToken string, opts ...contract.Option) {
	t.Helper()
	contract.Run(t, baseURL, ContractCases(), contract.Vars{"admin_token": adminToken, "customer_token": customerToken}, opts...)
}

// ContractCases are the Products promises of API.md, in order: later
// cases use the products earlier ones made. They need the variables
// admin_token and customer_token (bearer tokens with those roles).
func ContractCases() []contract.Case {
	const (
		products = "/api/v1/products"
		mugPath  = "/api/v1/products/{mug_id}"
		category = "contract-{run}"
		noSuchID = "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f"
	)
	mug := `{"sku":"MUG-{run}","name":"Blue mug","description":"A ceramic coffee mug","category":"` + category +
		`","price_cents":1299,"currency":"USD","stock":5}`
	replayed := func(v string) map[string]string { return map[string]string{"Idempotent-Replayed": v} }
	return []contract.Case{
		// Creating: admin only, checked before the body is read.
		{Name: "create without a token", Method: http.MethodPost, Path: products, Body: mug,
			Status: http.StatusUnauthorized, Problem: errs.ReasonUnauth},
		{Name: "create as a customer", Method: http.MethodPost, Path: products, Token: "customer_token", Body: `{"sku":`,
			Status: http.StatusForbidden, Problem: errs.ReasonForbidden},
		{Name: "create", Method: http.MethodPost, Path: products, Token: "admin_token", Body: mug,
			Status: http.StatusCreated, Shape: productShape("MUG-{run}", "Blue mug", 1299, 5, true),
			Capture: map[string]string{"mug_id": "id"}, Headers: map[string]string{"Location": mugPath}},
		{Name: "SKU taken", Method: http.MethodPost, Path: products, Token: "admin_token", Body: mug,
			Status: http.StatusConflict, Problem: ReasonSKUTaken},
		{Name: "validation", Method: http.MethodPost, Path: products, Token: "admin_token",
			Body:   `{"sku":"","name":"","price_cents":-5,"currency":"usd"}`,
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "price is required", Method: http.MethodPost, Path: products, Token: "admin_token",
			Body:   `{"sku":"FREE-{run}","name":"Free","currency":"USD"}`,
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "reserved is not a member", Method: http.MethodPost, Path: products, Token: "admin_token",
			Body:   strings.Replace(mug, `"stock":5`, `"stock":5,"reserved":1`, 1),
			Status: http.StatusBadRequest, Problem: httpx.ReasonUnknownField},
		{Name: "fractional price", Method: http.MethodPost, Path: products, Token: "admin_token",
			Body:   strings.Replace(mug, `1299`, `12.99`, 1),
			Status: http.StatusBadRequest, Problem: httpx.ReasonMalformedJSON},
		{Name: "malformed", Method: http.MethodPost, Path: products, Token: "admin_token", Body: `{"sku":`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonMalformedJSON},
		{Name: "wrong content type", Method: http.MethodPost, Path: products, Token: "admin_token", Body: mug,
			Header: map[string]string{"Content-Type": "text/plain"},
			Status: http.StatusUnsupportedMediaType, Problem: httpx.ReasonUnsupportedMediaType},

		// Reading: public.
		{Name: "get", Method: http.MethodGet, Path: mugPath,
			Status: http.StatusOK, Shape: productShape("MUG-{run}", "Blue mug", 1299, 5, true)},
		{Name: "no such product", Method: http.MethodGet, Path: products + "/" + noSuchID,
			Status: http.StatusNotFound, Problem: ReasonProductNotFound},
		{Name: "malformed id", Method: http.MethodGet, Path: products + "/not-a-uuid",
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},

		// Changing: admin only; absent members keep their value.
		{Name: "patch as a customer", Method: http.MethodPatch, Path: mugPath, Token: "customer_token", Body: `{"name":"x"}`,
			Status: http.StatusForbidden, Problem: errs.ReasonForbidden},
		{Name: "patch", Method: http.MethodPatch, Path: mugPath, Token: "admin_token", Body: `{"name":"Big blue mug","price_cents":1499}`,
			Status: http.StatusOK, Shape: productShape("MUG-{run}", "Big blue mug", 1499, 5, true)},
		{Name: "stock is not patched", Method: http.MethodPatch, Path: mugPath, Token: "admin_token", Body: `{"stock":1}`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonUnknownField},
		{Name: "patch a bad price", Method: http.MethodPatch, Path: mugPath, Token: "admin_token", Body: `{"price_cents":-1}`,
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "patch no such product", Method: http.MethodPatch, Path: products + "/" + noSuchID, Token: "admin_token", Body: `{"name":"x"}`,
			Status: http.StatusNotFound, Problem: ReasonProductNotFound},

		// Stock: keyed changes apply once.
		{Name: "stock as a customer", Method: http.MethodPost, Path: mugPath + "/stock", Token: "customer_token", Body: `{"delta":1}`,
			Status: http.StatusForbidden, Problem: errs.ReasonForbidden},
		{Name: "stock", Method: http.MethodPost, Path: mugPath + "/stock", Token: "admin_token", Body: `{"delta":3}`,
			Header: map[string]string{"Idempotency-Key": "stock-{run}"},
			Status: http.StatusOK, Shape: productShape("MUG-{run}", "Big blue mug", 1499, 8, true), Headers: replayed("")},
		{Name: "stock replayed", Method: http.MethodPost, Path: mugPath + "/stock", Token: "admin_token", Body: `{"delta":3}`,
			Header: map[string]string{"Idempotency-Key": "stock-{run}"},
			Status: http.StatusOK, Shape: productShape("MUG-{run}", "Big blue mug", 1499, 8, true), Headers: replayed("true")},
		{Name: "stock key reused", Method: http.MethodPost, Path: mugPath + "/stock", Token: "admin_token", Body: `{"delta":4}`,
			Header: map[string]string{"Idempotency-Key": "stock-{run}"},
			Status: http.StatusUnprocessableEntity, Problem: ReasonIdempotencyKeyReused},
		{Name: "stock below zero", Method: http.MethodPost, Path: mugPath + "/stock", Token: "admin_token", Body: `{"delta":-9}`,
			Status: http.StatusConflict, Problem: ReasonInsufficientStock},
		{Name: "delta is required", Method: http.MethodPost, Path: mugPath + "/stock", Token: "admin_token", Body: `{}`,
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},

		// Searching: active products, by name without a query, keyset
		// pages bound to their filters.
		{Name: "create brass lamp", Method: http.MethodPost, Path: products, Token: "admin_token",
			Body:   `{"sku":"LAMP-{run}","name":"Brass lamp","description":"warm light","category":"` + category + `","price_cents":4000,"currency":"USD","stock":2}`,
			Status: http.StatusCreated},
		{Name: "create desk lamp", Method: http.MethodPost, Path: products, Token: "admin_token",
			Body:   `{"sku":"DESK-{run}","name":"Desk lamp","description":"","category":"` + category + `","price_cents":2500,"currency":"EUR","stock":0}`,
			Status: http.StatusCreated, Capture: map[string]string{"desk_id": "id"}},
		{Name: "first page", Method: http.MethodGet, Path: products + "?category=" + category + "&page_size=2",
			Status: http.StatusOK, Shape: searchShape(3, contract.NonEmpty(), "Big blue mug", "Brass lamp"),
			Capture: map[string]string{"page2": "next_page_token"}},
		{Name: "last page", Method: http.MethodGet, Path: products + "?category=" + category + "&page_size=2&page_token={page2}",
			Status: http.StatusOK, Shape: searchShape(3, contract.Equal(""), "Desk lamp")},
		{Name: "token of other filters", Method: http.MethodGet, Path: products + "?category=other-{run}&page_token={page2}",
			Status: http.StatusBadRequest, Problem: ReasonInvalidPageToken},
		{Name: "malformed token", Method: http.MethodGet, Path: products + "?page_token=garbage",
			Status: http.StatusBadRequest, Problem: ReasonInvalidPageToken},
		{Name: "full text", Method: http.MethodGet, Path: products + "?q=coffee&category=" + category,
			Status: http.StatusOK, Shape: searchShape(1, contract.Equal(""), "Big blue mug")},
		{Name: "price bounds", Method: http.MethodGet, Path: products + "?category=" + category + "&min_price_cents=2000&max_price_cents=3000",
			Status: http.StatusOK, Shape: searchShape(1, contract.Equal(""), "Desk lamp")},
		{Name: "nothing matches", Method: http.MethodGet, Path: products + "?category=none-{run}",
			Status: http.StatusOK, Shape: searchShape(0, contract.Equal(""))},
		{Name: "page size above 100 is 100", Method: http.MethodGet, Path: products + "?category=" + category + "&page_size=1000",
			Status: http.StatusOK, Shape: searchShape(3, contract.Equal(""), "Big blue mug", "Brass lamp", "Desk lamp")},
		{Name: "negative page size", Method: http.MethodGet, Path: products + "?page_size=-1",
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "price bound not a number", Method: http.MethodGet, Path: products + "?min_price_cents=cheap",
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "crossed price bounds", Method: http.MethodGet, Path: products + "?min_price_cents=10&max_price_cents=5",
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "deactivate", Method: http.MethodPatch, Path: products + "/{desk_id}", Token: "admin_token", Body: `{"active":false}`,
			Status: http.StatusOK, Shape: productShape("DESK-{run}", "Desk lamp", 2500, 0, false)},
		{Name: "inactive ones are not searched", Method: http.MethodGet, Path: products + "?category=" + category,
			Status: http.StatusOK, Shape: searchShape(2, contract.Equal(""), "Big blue mug", "Brass lamp")},
		{Name: "inactive ones are still read", Method: http.MethodGet, Path: products + "/{desk_id}",
			Status: http.StatusOK, Shape: productShape("DESK-{run}", "Desk lamp", 2500, 0, false)},

		// Routing.
		{Name: "no internal routes", Method: http.MethodPost, Path: mugPath + "/restock", Token: "admin_token",
			Body:   `{"idempotency_key":"k","items":[]}`,
			Status: http.StatusNotFound, Problem: httpx.ReasonRouteNotFound},
		{Name: "wrong method", Method: http.MethodDelete, Path: mugPath, Token: "admin_token",
			Status: http.StatusMethodNotAllowed, Problem: httpx.ReasonMethodNotAllowed,
			Headers: map[string]string{"Allow": "GET, PATCH"}},
	}
}

// productShape is API.md's Product with nothing reserved (HTTP cannot
// reserve): exactly these members.
func productShape(sku, name string, price, stock int64, active bool) contract.Matcher {
	return contract.Object(map[string]contract.Matcher{
		"id": contract.UUID(), "sku": contract.Equal(sku), "name": contract.Equal(name),
		"description": contract.String(), "category": contract.NonEmpty(),
		"price_cents": contract.IntValue(price), "currency": contract.NonEmpty(),
		"stock": contract.IntValue(stock), "reserved": contract.IntValue(0), "available": contract.IntValue(stock),
		"active": boolValue(active), "created_at": contract.Time(), "updated_at": contract.Time(),
	})
}

// searchShape is a search page of the products named names, in order,
// out of total matches.
func searchShape(total int64, next contract.Matcher, names ...string) contract.Matcher {
	return contract.Object(map[string]contract.Matcher{
		"products": productsNamed(names), "next_page_token": next, "total_size": contract.IntValue(total),
	})
}

// productsNamed matches an array of active products with these names, in
// this order.
func productsNamed(names []string) contract.Matcher {
	return func(v any, vars contract.Vars) error {
		arr, ok := v.([]any)
		if !ok || len(arr) != len(names) {
			return fmt.Errorf("want %d products, got %v", len(names), v)
		}
		for i, e := range arr {
			p, _ := e.(map[string]any)
			if p["name"] != names[i] || p["active"] != true {
				return fmt.Errorf("[%d]: want the active %q, got %v", i, names[i], e)
			}
		}
		return contract.Array(anyProduct())(v, vars)
	}
}

func anyProduct() contract.Matcher {
	return contract.Object(map[string]contract.Matcher{
		"id": contract.UUID(), "sku": contract.NonEmpty(), "name": contract.NonEmpty(),
		"description": contract.String(), "category": contract.NonEmpty(),
		"price_cents": contract.Int(), "currency": contract.NonEmpty(),
		"stock": contract.Int(), "reserved": contract.Int(), "available": contract.Int(),
		"active": contract.Bool(), "created_at": contract.Time(), "updated_at": contract.Time(),
	})
}

func boolValue(want bool) contract.Matcher {
	return func(v any, _ contract.Vars) error {
		if v != want {
			return fmt.Errorf("want %v, got %v", want, v)
		}
		return nil
	}
}
