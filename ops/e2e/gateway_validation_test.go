package e2e

import (
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
)

// parametersCheckedFirst: issue 8 says path and query parameters are
// validated before any backend call. A malformed id or page size is 400
// VALIDATION_FAILED from the gateway, and the backend method behind the
// route is not called: its request counter does not move.
func (s *storefront) parametersCheckedFirst(t *testing.T) {
	admin := s.adminToken(t)
	buyer := s.register(t, "Sloppy")
	for _, c := range []struct {
		method, path, token, body string
		// backend is the service and method the route calls.
		backend string
	}{
		{http.MethodGet, "/api/v1/products/not-a-uuid", "", "", "products.GetProduct"},
		{http.MethodPatch, "/api/v1/products/not-a-uuid", admin, `{"name":"x"}`, "products.UpdateProduct"},
		{http.MethodPost, "/api/v1/products/not-a-uuid/stock", admin, `{"delta":1}`, "products.AdjustStock"},
		{http.MethodGet, "/api/v1/products?page_size=-1", "", "", "products.SearchProducts"},
		{http.MethodGet, "/api/v1/users/not-a-uuid", buyer.token, "", "users.GetUser"},
		{http.MethodGet, "/api/v1/orders/not-a-uuid", buyer.token, "", "orders.GetOrder"},
		{http.MethodPost, "/api/v1/orders/not-a-uuid/cancel", buyer.token, "", "orders.CancelOrder"},
		{http.MethodPost, "/api/v1/orders/not-a-uuid/ship", admin, "", "orders.ShipOrder"},
		{http.MethodGet, "/api/v1/orders?page_size=-1", buyer.token, "", "orders.ListOrders"},
		{http.MethodGet, "/api/v1/payments/not-a-uuid", buyer.token, "", "payments.GetPayment"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			before := s.methodCalls(t, c.backend)
			s.send(t, c.method, c.path, c.token, c.body).wantProblem(t, http.StatusBadRequest, errs.ReasonValidation)
			if after := s.methodCalls(t, c.backend); after != before {
				t.Errorf("%s was called (%v calls, %v before): the gateway forwarded a malformed parameter instead of refusing it",
					c.backend, after, before)
			}
		})
	}
}
