package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/valid"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// testCards are API.md's simulated processor's cards, listed on the
// checkout form.
var testCards = []struct{ Number, Outcome string }{
	{"4242424242424242", "approved"},
	{"4000000000000002", "declined (card_declined)"},
	{"4000000000009995", "declined (insufficient_funds)"},
	{"4000000000000119", "transient processing error: retried, then compensated"},
}

type checkoutData struct {
	Cart    cartView
	Address *commonv1.Address
	// Key is this form's idempotency key: a double submit places one
	// order. Each rendering has a new one, so trying another card after a
	// decline is a new attempt, not a reuse of the declined one's key.
	Key      string
	ExpMonth string
	ExpYear  string
	Cards    any
}

func (s *Server) checkoutPage(w http.ResponseWriter, r *http.Request) {
	if !s.requireLogin(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
	defer cancel()
	d := checkoutData{Address: &commonv1.Address{}, Key: uuid.NewString(), Cards: testCards}
	var err error
	if d.Cart, err = s.loadCart(ctx, sessionOf(r).Cart); err != nil {
		s.fail(w, r, "checkout", "Checkout", d, err)
		return
	}
	s.render(w, r, http.StatusOK, "checkout", "Checkout", d, "")
}

// checkout places the order and waits for the saga (up to
// CheckoutTimeout): a decline or a stock-out is shown on the form, the
// cart kept; success empties the cart and shows the order, whose page
// follows its status live (a saga that outlives the wait is PENDING
// there, then CONFIRMED or CANCELLED without a reload).
func (s *Server) checkout(w http.ResponseWriter, r *http.Request) {
	if !s.requireLogin(w, r) {
		return
	}
	sess := sessionOf(r)
	f := r.PostFormValue
	d := checkoutData{
		Address: &commonv1.Address{
			Line1: strings.TrimSpace(f("line1")), Line2: strings.TrimSpace(f("line2")), City: strings.TrimSpace(f("city")),
			State: strings.TrimSpace(f("state")), PostalCode: strings.TrimSpace(f("postal_code")), Country: strings.TrimSpace(f("country")),
		},
		Key: uuid.NewString(), ExpMonth: f("exp_month"), ExpYear: f("exp_year"), Cards: testCards,
	}
	key := f("idempotency_key")
	var v errs.Validation
	valid.IdempotencyKey(&v, "idempotency_key", key)
	month, merr := strconv.Atoi(d.ExpMonth)
	year, yerr := strconv.Atoi(d.ExpYear)
	v.Check(merr == nil && month >= 1 && month <= 12, "exp_month", "must be a month from 1 to 12")
	v.Check(yerr == nil && year >= 2000 && year <= 9999, "exp_year", "must be a four-digit year")
	v.Check(len(sess.Cart) > 0, "items", "your cart is empty")
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CheckoutTimeout)
	defer cancel()
	var err error
	if d.Cart, err = s.loadCart(ctx, sess.Cart); err != nil {
		s.fail(w, r, "checkout", "Checkout", d, err)
		return
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, "checkout", "Checkout", d, err)
		return
	}
	items := make([]*ordersv1.LineItem, len(sess.Cart))
	for i, l := range sess.Cart {
		items[i] = &ordersv1.LineItem{ProductId: l.ProductID, Quantity: l.Quantity}
	}
	resp, err := s.cfg.Orders.CreateOrder(ctx, &ordersv1.CreateOrderRequest{
		Items: items, ShippingAddress: d.Address, IdempotencyKey: key,
		Payment: &commonv1.Card{
			Number: strings.ReplaceAll(f("card_number"), " ", ""), ExpMonth: int32(month), ExpYear: int32(year), Cvc: f("cvc"),
		},
	})
	if err != nil {
		if name, avail, ok := stockOut(err, d.Cart); ok {
			status, _ := userMessage(err)
			s.render(w, r, status, "checkout", "Checkout", d,
				"Only "+avail+" of "+name+" "+isAre(avail)+" in stock. Lower its quantity in your cart and try again.")
			return
		}
		s.fail(w, r, "checkout", "Checkout", d, err)
		return
	}
	sess.Cart = nil
	s.saveSession(w, r, sess)
	http.Redirect(w, r, "/orders/"+resp.GetOrder().GetId(), http.StatusSeeOther)
}

// stockOut names the product of an INSUFFICIENT_STOCK failure, when it is
// in the cart, and how many are left.
func stockOut(err error, c cartView) (name, available string, ok bool) {
	e := errs.As(err)
	if e.Reason != ordersclient.ReasonInsufficientStock {
		return "", "", false
	}
	id, available := e.MetaString(ordersclient.MetaProductID), e.MetaString(ordersclient.MetaAvailable)
	for _, l := range c.Lines {
		if l.ProductID == id && l.Product != nil && available != "" {
			return "\u201c" + l.Product.GetName() + "\u201d", available, true
		}
	}
	return "", "", false
}
