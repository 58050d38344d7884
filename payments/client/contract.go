package client

import (
	"net/http"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest/contract"
)

// ContractFixture is what the Payments contract needs and cannot make over
// HTTP: payments are created only by the orders saga (Charge is internal),
// so the caller makes one first, through the service in a service test or
// by placing an order through the gateway.
type ContractFixture struct {
	// PaymentID names a payment of OwnerID's, in any status.
	PaymentID, OwnerID string
	// OwnerToken is a customer token for OwnerID, StrangerToken one for
	// another customer, AdminToken one with the admin role.
	OwnerToken, StrangerToken, AdminToken string
}

// RunContract checks that baseURL (a payments instance's HTTP port, or the
// gateway) keeps the Payments part of API.md for the payment f describes.
// It only reads, so it may run against a server that keeps its data.
// opts (contract.WithClient) choose how the requests are sent, e.g. with
// a client that trusts the gateway's CA.
func RunContract(t contract.T, baseURL string, f ContractFixture, opts ...contract.Option) {
	t.Helper()
	contract.Run(t, baseURL, ContractCases(), contract.Vars{
		"payment_id": f.PaymentID, "owner_id": f.OwnerID,
		"owner_token": f.OwnerToken, "stranger_token": f.StrangerToken, "admin_token": f.AdminToken,
	}, opts...)
}

// ContractCases are the Payments promises of API.md. They need the
// variables payment_id, owner_id, owner_token, stranger_token and
// admin_token (see ContractFixture).
func ContractCases() []contract.Case {
	const path = "/api/v1/payments/{payment_id}"
	// A well-formed id that names no payment: 404 must not tell it apart
	// from someone else's.
	const nobody = "/api/v1/payments/6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f"
	return []contract.Case{
		{Name: "owner reads it", Method: http.MethodGet, Path: path, Token: "owner_token",
			Status: http.StatusOK, Shape: paymentShape()},
		{Name: "admin reads anyone's", Method: http.MethodGet, Path: path, Token: "admin_token",
			Status: http.StatusOK, Shape: paymentShape()},
		{Name: "someone else's is not found", Method: http.MethodGet, Path: path, Token: "stranger_token",
			Status: http.StatusNotFound, Problem: errs.ReasonNotFound},
		{Name: "no such payment, the same answer", Method: http.MethodGet, Path: nobody, Token: "owner_token",
			Status: http.StatusNotFound, Problem: errs.ReasonNotFound},
		{Name: "no such payment, for an admin too", Method: http.MethodGet, Path: nobody, Token: "admin_token",
			Status: http.StatusNotFound, Problem: errs.ReasonNotFound},
		{Name: "without a token", Method: http.MethodGet, Path: path,
			Status: http.StatusUnauthorized, Problem: errs.ReasonUnauth},
		{Name: "with a forged token", Method: http.MethodGet, Path: path,
			Header: map[string]string{"Authorization": "Bearer {owner_token}x"},
			Status: http.StatusUnauthorized, Problem: errs.ReasonUnauth},
		{Name: "malformed id", Method: http.MethodGet, Path: "/api/v1/payments/not-a-uuid", Token: "owner_token",
			Status: http.StatusBadRequest, Problem: errs.ReasonValidation},

		// Money moves over gRPC only, for the orders saga.
		{Name: "no charging over HTTP", Method: http.MethodPost, Path: "/api/v1/payments", Token: "owner_token",
			Body:   `{"amount_cents":100,"currency":"EUR"}`,
			Status: http.StatusNotFound, Problem: httpx.ReasonRouteNotFound},
		{Name: "no listing", Method: http.MethodGet, Path: "/api/v1/payments", Token: "admin_token",
			Status: http.StatusNotFound, Problem: httpx.ReasonRouteNotFound},
		{Name: "wrong method", Method: http.MethodDelete, Path: path, Token: "owner_token",
			Status: http.StatusMethodNotAllowed, Problem: httpx.ReasonMethodNotAllowed,
			Headers: map[string]string{"Allow": "GET"}},
	}
}

// paymentShape is API.md's Payment: exactly these members, never a card
// number, a CVC or the charge's idempotency key.
func paymentShape() contract.Matcher {
	return contract.Object(map[string]contract.Matcher{
		"id": contract.Equal("{payment_id}"), "order_id": contract.UUID(), "user_id": contract.Equal("{owner_id}"),
		"amount_cents": contract.Int(), "currency": contract.Pattern(`^[A-Z]{3}$`), "status": contract.OneOf(apiStatuses...),
		"card_brand": contract.String(), "card_last4": contract.Pattern(`^[0-9]{4}$`), "decline_code": contract.String(),
		"refunded_cents": contract.Int(), "created_at": contract.Time(), "updated_at": contract.Time(),
	})
}

// apiStatuses are the values of a Payment's status in API.md's JSON.
// PENDING is a charge whose outcome is not recorded yet (in flight, or
// waiting for recovery after a crash). A test holds it equal to
// PaymentStatus's values.
var apiStatuses = []string{"PENDING", "CAPTURED", "DECLINED", "FAILED", "REFUNDED"}
