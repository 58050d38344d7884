package web

import (
	"context"
	"net/http"
	"net/url"

	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

const ordersPageSize = 20

type ordersData struct {
	Orders  []*ordersv1.Order
	NextURL string
}

func (s *Server) myOrders(w http.ResponseWriter, r *http.Request) {
	if !s.requireLogin(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
	defer cancel()
	resp, err := s.cfg.Orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{PageSize: ordersPageSize, PageToken: r.URL.Query().Get("page_token")})
	if err != nil {
		s.fail(w, r, "orders", "My orders", ordersData{}, err)
		return
	}
	d := ordersData{Orders: resp.GetOrders()}
	if next := resp.GetNextPageToken(); next != "" {
		d.NextURL = "/orders?page_token=" + url.QueryEscape(next)
	}
	s.render(w, r, http.StatusOK, "orders", "My orders", d, "")
}

type orderData struct {
	Order *ordersv1.Order
}

// orderPage shows one order (another user's is not found, as the API
// answers) with a cancel button while it may be cancelled. Its status
// follows the order live (StreamPrefix + "orders/{id}").
func (s *Server) orderPage(w http.ResponseWriter, r *http.Request) {
	if !s.requireLogin(w, r) {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
	defer cancel()
	o, err := s.cfg.Orders.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: id})
	if err != nil {
		s.fail(w, r, "error", "Order", nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "order", "Order", orderData{Order: o}, "")
}

// cancel cancels the order (refund and restock are orders' saga) and
// shows it again. The order's id is its idempotency key's stem, so a
// double click cancels once.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	if !s.requireLogin(w, r) {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CheckoutTimeout)
	defer cancel()
	if _, err := s.cfg.Orders.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Id: id, IdempotencyKey: "web-cancel-" + id}); err != nil {
		o, gerr := s.cfg.Orders.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: id})
		if gerr != nil {
			s.fail(w, r, "error", "Order", nil, err)
			return
		}
		s.fail(w, r, "order", "Order", orderData{Order: o}, err)
		return
	}
	http.Redirect(w, r, "/orders/"+id+"?notice=cancelled", http.StatusSeeOther)
}
