package client

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest/contract"
)

// ContractFixture is what the Orders contract needs and cannot make over
// orders' HTTP API: a product to buy (made through products), and
// accounts (made through users).
type ContractFixture struct {
	// ProductID names an active product with Available units available
	// (at least 4) when the run starts. Nothing else may order it during
	// the run: the cases count on its stock.
	ProductID string
	Available int64
	// OwnerID is the customer whose token OwnerToken is; StrangerToken is
	// another customer's, AdminToken one with the admin role.
	OwnerID                               string
	OwnerToken, StrangerToken, AdminToken string
}

// RunContract checks that baseURL (an orders instance's HTTP port, with
// users, products and payments behind it, or the gateway) keeps the
// Orders part of API.md for the product and accounts f describes. It
// places, cancels and ships orders of f's product (idempotency keys are
// unique per run), so it may run against a server that keeps its data.
// opts (contract.WithClient) choose how the requests are sent, e.g. with
// a client that trusts the gateway's CA.
func RunContract(t contract.T, baseURL string, f ContractFixture, opts ...contract.Option) {
	t.Helper()
	contract.Run(t, baseURL, ContractCases(), contract.Vars{
		"product_id": f.ProductID, "available": strconv.FormatInt(f.Available, 10),
		"too_many": strconv.FormatInt(f.Available+1, 10), "owner_id": f.OwnerID,
		"owner_token": f.OwnerToken, "stranger_token": f.StrangerToken, "admin_token": f.AdminToken,
	}, opts...)
}

// The simulated processor's test cards (API.md, Payments).
const (
	cardApproved          = "4242424242424242"
	cardDeclined          = "4000000000000002"
	cardInsufficientFunds = "4000000000009995"
)

// ContractCases are the Orders promises of API.md, in order: later cases
// use the orders earlier ones placed. They need the variables product_id,
// available, too_many (available + 1), owner_id, owner_token,
// stranger_token and admin_token (see ContractFixture).
func ContractCases() []contract.Case {
	const (
		orders    = "/api/v1/orders"
		orderPath = "/api/v1/orders/{order_id}"
		nobody    = "/api/v1/orders/6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f"
	)
	place := func(quantity, number string, expYear int) string {
		return `{"items":[{"product_id":"{product_id}","quantity":` + quantity + `}],` +
			`"shipping_address":{"line1":"1 Main St","line2":"","city":"Springfield","state":"IL","postal_code":"62701","country":"US"},` +
			`"payment":{"card_number":"` + number + `","exp_month":12,"exp_year":` + strconv.Itoa(expYear) + `,"cvc":"123"}}`
	}
	const future = 2040
	one := place("1", cardApproved, future)
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k + "-{run}"} }
	replayed := func(v string) map[string]string { return map[string]string{"Idempotent-Replayed": v} }
	withOrder := func(status, reason string) contract.Matcher {
		return contract.Members(map[string]contract.Matcher{
			"order": orderShape(status, contract.Equal(reason)), "order_id": contract.UUID(),
		})
	}
	return []contract.Case{
		// Placing: a caller is needed before anything is read.
		{Name: "place without a token", Method: http.MethodPost, Path: orders, Body: `{"items":`,
			Status: http.StatusUnauthorized, Problem: errs.ReasonUnauth},
		{Name: "insufficient stock", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body: place("{too_many}", cardApproved, future), Status: http.StatusConflict, Problem: ReasonInsufficientStock,
			Shape: contract.Members(map[string]contract.Matcher{
				MetaProductID: contract.Equal("{product_id}"), MetaAvailable: intVar("available"),
			})},
		{Name: "quantity zero", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body: place("0", cardApproved, future), Status: http.StatusBadRequest, Problem: errs.ReasonValidation,
			Shape: violations("items[0].quantity")},
		{Name: "card fails the Luhn check", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body: place("1", "4242424242424241", future), Status: http.StatusBadRequest, Problem: errs.ReasonValidation,
			Shape: violations("payment.card_number")},
		{Name: "expired card", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body: place("1", cardApproved, 2020), Status: http.StatusBadRequest, Problem: errs.ReasonValidation,
			Shape: violations("payment.exp_year")},
		{Name: "unknown product", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body:   strings.Replace(one, "{product_id}", "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", 1),
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation, Shape: violations("items[0].product_id")},
		{Name: "card number under its proto name", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body:   strings.Replace(one, "card_number", "number", 1),
			Status: http.StatusBadRequest, Problem: httpx.ReasonUnknownField},
		{Name: "malformed", Method: http.MethodPost, Path: orders, Token: "owner_token", Body: `{"items":`,
			Status: http.StatusBadRequest, Problem: httpx.ReasonMalformedJSON},
		{Name: "wrong content type", Method: http.MethodPost, Path: orders, Token: "owner_token", Body: one,
			Header: map[string]string{"Content-Type": "text/plain"},
			Status: http.StatusUnsupportedMediaType, Problem: httpx.ReasonUnsupportedMediaType},

		// Placing for real, with an idempotency key.
		{Name: "place", Method: http.MethodPost, Path: orders, Token: "owner_token", Body: one, Header: key("place"),
			Status: http.StatusCreated, Shape: orderShape("CONFIRMED", contract.Equal("")),
			Capture: map[string]string{"order_id": "id"},
			Headers: map[string]string{"Location": orderPath, "Idempotent-Replayed": ""}},
		{Name: "replayed", Method: http.MethodPost, Path: orders, Token: "owner_token", Body: one, Header: key("place"),
			Status: http.StatusCreated, Shape: sameOrder(orderShape("CONFIRMED", contract.Equal(""))),
			Headers: map[string]string{"Location": orderPath, "Idempotent-Replayed": "true"}},
		{Name: "key reused for another order", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body: place("2", cardApproved, future), Header: key("place"),
			Status: http.StatusUnprocessableEntity, Problem: errs.ReasonIdempotencyKeyReused},
		{Name: "the key is the caller's", Method: http.MethodPost, Path: orders, Token: "stranger_token",
			Body: one, Header: key("place"),
			Status: http.StatusCreated, Shape: contract.Members(map[string]contract.Matcher{"status": contract.Equal("CONFIRMED")}),
			Headers: replayed("")},

		// Failed payments: 402 with the order, CANCELLED, stock released.
		{Name: "declined", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body: place("1", cardDeclined, future), Header: key("declined"),
			Status: http.StatusPaymentRequired, Problem: ReasonPaymentDeclined,
			Shape: withOrder("CANCELLED", ReasonPaymentDeclined), Headers: replayed("")},
		{Name: "declined, replayed", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body: place("1", cardDeclined, future), Header: key("declined"),
			Status: http.StatusPaymentRequired, Problem: ReasonPaymentDeclined,
			Shape: withOrder("CANCELLED", ReasonPaymentDeclined), Headers: replayed("true")},
		{Name: "insufficient funds", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body:   place("1", cardInsufficientFunds, future),
			Status: http.StatusPaymentRequired, Problem: ReasonInsufficientFunds,
			Shape: withOrder("CANCELLED", ReasonInsufficientFunds)},
		{Name: "stock was released", Method: http.MethodPost, Path: orders, Token: "owner_token",
			Body: place("{too_many}", cardApproved, future), Status: http.StatusConflict, Problem: ReasonInsufficientStock,
			Shape: contract.Members(map[string]contract.Matcher{MetaAvailable: intMinus("available", 2)})},

		// Asking not to wait.
		{Name: "place asynchronously", Method: http.MethodPost, Path: orders, Token: "owner_token", Body: one,
			Header: map[string]string{"Prefer": "respond-async"},
			Status: http.StatusAccepted, Shape: orderShape("PENDING", contract.Equal("")),
			Capture: map[string]string{"async_id": "id"}, Headers: map[string]string{"Location": "/api/v1/orders/{async_id}"}},

		// Reading: the owner's or an admin's; anyone else's is unknown.
		{Name: "get", Method: http.MethodGet, Path: orderPath, Token: "owner_token",
			Status: http.StatusOK, Shape: sameOrder(orderShape("CONFIRMED", contract.Equal("")))},
		{Name: "admin reads anyone's", Method: http.MethodGet, Path: orderPath, Token: "admin_token",
			Status: http.StatusOK, Shape: sameOrder(orderShape("CONFIRMED", contract.Equal("")))},
		{Name: "someone else's is not found", Method: http.MethodGet, Path: orderPath, Token: "stranger_token",
			Status: http.StatusNotFound, Problem: errs.ReasonNotFound},
		{Name: "no such order, the same answer", Method: http.MethodGet, Path: nobody, Token: "owner_token",
			Status: http.StatusNotFound, Problem: errs.ReasonNotFound},
		{Name: "malformed id", Method: http.MethodGet, Path: orders + "/not-a-uuid", Token: "owner_token",
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "get without a token", Method: http.MethodGet, Path: orderPath,
			Status: http.StatusUnauthorized, Problem: errs.ReasonUnauth},
		{Name: "list", Method: http.MethodGet, Path: orders + "?page_size=100", Token: "owner_token",
			Status: http.StatusOK, Shape: contract.Object(map[string]contract.Matcher{
				"orders": ownOrders(), "next_page_token": contract.String(),
			})},
		{Name: "list a page", Method: http.MethodGet, Path: orders + "?page_size=1", Token: "owner_token",
			Status: http.StatusOK, Shape: contract.Object(map[string]contract.Matcher{
				"orders": contract.Array(orderShape("", nil)), "next_page_token": contract.NonEmpty(),
			})},
		{Name: "negative page size", Method: http.MethodGet, Path: orders + "?page_size=-1", Token: "owner_token",
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},
		{Name: "list without a token", Method: http.MethodGet, Path: orders,
			Status: http.StatusUnauthorized, Problem: errs.ReasonUnauth},

		// Shipping is for admins; cancelling for the owner, once.
		{Name: "ship as a customer", Method: http.MethodPost, Path: orderPath + "/ship", Token: "owner_token",
			Status: http.StatusForbidden, Problem: errs.ReasonForbidden},
		{Name: "cancel someone else's", Method: http.MethodPost, Path: orderPath + "/cancel", Token: "stranger_token",
			Status: http.StatusNotFound, Problem: errs.ReasonNotFound},
		{Name: "cancel", Method: http.MethodPost, Path: orderPath + "/cancel", Token: "owner_token", Header: key("cancel"),
			Status: http.StatusOK, Shape: sameOrder(orderShape("CANCELLED", contract.String())), Headers: replayed("")},
		{Name: "cancel replayed", Method: http.MethodPost, Path: orderPath + "/cancel", Token: "owner_token", Header: key("cancel"),
			Status: http.StatusOK, Shape: sameOrder(orderShape("CANCELLED", contract.String())), Headers: replayed("true")},
		{Name: "cancel again", Method: http.MethodPost, Path: orderPath + "/cancel", Token: "owner_token",
			Status: http.StatusOK, Shape: sameOrder(orderShape("CANCELLED", contract.String()))},
		{Name: "ship a cancelled order", Method: http.MethodPost, Path: orderPath + "/ship", Token: "admin_token",
			Status: http.StatusConflict, Problem: ReasonInvalidOrderState},
		{Name: "place one to ship", Method: http.MethodPost, Path: orders, Token: "owner_token", Body: one,
			Status: http.StatusCreated, Shape: orderShape("CONFIRMED", contract.Equal("")),
			Capture: map[string]string{"shipped_id": "id"}},
		{Name: "ship", Method: http.MethodPost, Path: "/api/v1/orders/{shipped_id}/ship", Token: "admin_token",
			Status: http.StatusOK, Shape: orderShape("SHIPPED", contract.Equal(""))},
		{Name: "cancel a shipped order", Method: http.MethodPost, Path: "/api/v1/orders/{shipped_id}/cancel", Token: "owner_token",
			Status: http.StatusConflict, Problem: ReasonInvalidOrderState},
		{Name: "ship twice", Method: http.MethodPost, Path: "/api/v1/orders/{shipped_id}/ship", Token: "admin_token",
			Status: http.StatusConflict, Problem: ReasonInvalidOrderState},

		// Routing.
		{Name: "wrong method", Method: http.MethodDelete, Path: orderPath, Token: "owner_token",
			Status: http.StatusMethodNotAllowed, Problem: httpx.ReasonMethodNotAllowed,
			Headers: map[string]string{"Allow": "GET"}},
		{Name: "no watching over HTTP", Method: http.MethodGet, Path: orderPath + "/watch", Token: "owner_token",
			Status: http.StatusNotFound, Problem: httpx.ReasonRouteNotFound},
	}
}

// orderShape is API.md's Order of the fixture's product, bought by its
// owner: exactly these members, never a card or an idempotency key.
// status "" accepts any of API.md's; a nil failure any string.
func orderShape(status string, failure contract.Matcher) contract.Matcher {
	st := contract.OneOf(apiStatuses...)
	if status != "" {
		st = contract.Equal(status)
	}
	if failure == nil {
		failure = contract.String()
	}
	return contract.Object(map[string]contract.Matcher{
		"id": contract.UUID(), "user_id": contract.Equal("{owner_id}"), "status": st,
		"items": contract.Array(contract.Object(map[string]contract.Matcher{
			"product_id": contract.Equal("{product_id}"), "sku": contract.String(), "name": contract.String(),
			"quantity": contract.Int(), "unit_price_cents": contract.Int(), "line_total_cents": contract.Int(),
		})),
		"total_cents": contract.Int(), "currency": contract.Pattern(`^[A-Z]{3}$`),
		"shipping_address": contract.Object(map[string]contract.Matcher{
			"line1": contract.Equal("1 Main St"), "line2": contract.String(), "city": contract.Equal("Springfield"),
			"state": contract.String(), "postal_code": contract.String(), "country": contract.Equal("US"),
		}),
		"payment_id": contract.String(), "failure_reason": failure,
		"created_at": contract.Time(), "updated_at": contract.Time(),
	})
}

// sameOrder is shape, for the order the "place" case captured.
func sameOrder(shape contract.Matcher) contract.Matcher {
	id := contract.Members(map[string]contract.Matcher{"id": contract.Equal("{order_id}")})
	return func(v any, vars contract.Vars) error {
		if err := id(v, vars); err != nil {
			return err
		}
		return shape(v, vars)
	}
}

// ownOrders are the owner's orders, newest first: the ones placed in this
// run among them.
func ownOrders() contract.Matcher {
	each := contract.Array(orderShape("", nil))
	return func(v any, vars contract.Vars) error {
		if err := each(v, vars); err != nil {
			return err
		}
		list, _ := v.([]any)
		var ids, created []string
		for _, o := range list {
			m, _ := o.(map[string]any)
			id, _ := m["id"].(string)
			at, _ := m["created_at"].(string)
			ids, created = append(ids, id), append(created, at)
		}
		for _, want := range []string{vars["order_id"], vars["async_id"]} {
			if !slices.Contains(ids, want) {
				return fmt.Errorf("order %s is not listed", want)
			}
		}
		for i := 1; i < len(created); i++ {
			if laterThan(created[i], created[i-1]) {
				return fmt.Errorf("orders are not newest first: %s before %s", created[i-1], created[i])
			}
		}
		return nil
	}
}

// laterThan reports whether RFC 3339 time a is after b. Text does not
// sort as time (fractions are written without trailing zeros), so parse;
// what does not parse is left to the shape check.
func laterThan(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.After(tb)
}

// violations matches a 400 whose field violations include field.
func violations(field string) contract.Matcher {
	return contract.Members(map[string]contract.Matcher{"errors": func(v any, _ contract.Vars) error {
		list, _ := v.([]any)
		for _, e := range list {
			if m, _ := e.(map[string]any); m["field"] == field {
				return nil
			}
		}
		return fmt.Errorf("no violation of %s in %v", field, v)
	}})
}

// intVar matches the number held by the variable name.
func intVar(name string) contract.Matcher { return intMinus(name, 0) }

// intMinus matches the number held by the variable name, less minus.
func intMinus(name string, minus int64) contract.Matcher {
	return func(v any, vars contract.Vars) error {
		want, err := strconv.ParseInt(vars[name], 10, 64)
		if err != nil {
			return fmt.Errorf("variable %s: %w", name, err)
		}
		if n, ok := v.(float64); !ok || n != float64(want-minus) {
			return fmt.Errorf("want %d, got %v", want-minus, v)
		}
		return nil
	}
}

// apiStatuses are the values of an Order's status in API.md's JSON. A
// test holds them equal to OrderStatus's values.
var apiStatuses = []string{"PENDING", "CONFIRMED", "SHIPPED", "CANCELLED", "REQUIRES_ATTENTION"}
