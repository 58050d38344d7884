package e2e

import (
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/kit/rest/contract"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// contracts runs each service's contract table, the one its own HTTP
// port is tested with, through the gateway unchanged: the gateway serves
// API.md's JSON, statuses and problems exactly as the services do.
func (s *storefront) contracts(t *testing.T) {
	viaGateway := contract.WithClient(s.client)
	admin := s.adminToken(t)

	t.Run("users", func(t *testing.T) {
		usersclient.RunContract(t, s.base, adminEmail, adminPassword, viaGateway)
	})
	t.Run("products", func(t *testing.T) {
		productsclient.RunContract(t, s.base, admin, s.register(t, "Browser").token, viaGateway)
	})
	t.Run("orders", func(t *testing.T) {
		// A product of its own: the table counts on nobody else ordering it.
		const stock = 10
		owner, stranger := s.register(t, "Owner"), s.register(t, "Stranger")
		ordersclient.RunContract(t, s.base, ordersclient.ContractFixture{
			ProductID: s.createProduct(t, admin, stock), Available: stock,
			OwnerID: owner.id, OwnerToken: owner.token, StrangerToken: stranger.token, AdminToken: admin,
		}, viaGateway)
	})
	t.Run("payments", func(t *testing.T) {
		// Payments are made only by the orders saga: place an order.
		owner, stranger := s.register(t, "Payer"), s.register(t, "Onlooker")
		order := s.send(t, http.MethodPost, "/api/v1/orders", owner.token,
			frontOrder(s.createProduct(t, admin, 3), 1, cardApproved)).want(t, http.StatusCreated)
		paymentsclient.RunContract(t, s.base, paymentsclient.ContractFixture{
			PaymentID: order.str("payment_id"), OwnerID: owner.id,
			OwnerToken: owner.token, StrangerToken: stranger.token, AdminToken: admin,
		}, viaGateway)
	})
}
