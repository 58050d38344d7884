package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/kitshop/kitshop/kit/valid"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// cartView is the cart with the catalog's current names and prices.
type cartView struct {
	Lines []cartViewLine
	// Totals per currency (a catalog may price in several).
	Totals []string
	Empty  bool
}

type cartViewLine struct {
	Product   *productsv1.Product
	ProductID string
	Quantity  int64
	LineTotal string
}

// cartUpdate adds to the cart (action=add) or sets a line's quantity
// (action=set, 0 removes it). Only well-formed ids and quantities are
// kept; whether the product exists and is in stock is the catalog's and
// checkout's business.
func (s *Server) cartUpdate(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	id := r.PostFormValue("product_id")
	qty, err := strconv.ParseInt(r.PostFormValue("quantity"), 10, 64)
	action := r.PostFormValue("action")
	if !valid.IsID(id) || err != nil || qty < 0 || qty > maxLineQuantity || (action == "add" && qty == 0) {
		s.renderError(w, r, sess, http.StatusBadRequest, "Choose a quantity from 1 to 99.")
		return
	}
	notice := ""
	switch action {
	case "add":
		if !sess.Cart.add(id, qty) {
			s.renderError(w, r, sess, http.StatusConflict, "Your cart is full (20 different products at most).")
			return
		}
		notice = "?notice=added"
	case "set":
		sess.Cart.set(id, qty)
	default:
		s.renderError(w, r, sess, http.StatusBadRequest, "Unknown cart action.")
		return
	}
	s.saveSession(w, r, sess)
	http.Redirect(w, r, "/cart"+notice, http.StatusSeeOther)
}

func (s *Server) cartPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
	defer cancel()
	v, err := s.loadCart(ctx, sessionOf(r).Cart)
	if err != nil {
		s.fail(w, r, "cart", "Your cart", v, err)
		return
	}
	s.render(w, r, http.StatusOK, "cart", "Your cart", v, "")
}

// loadCart looks the cart's products up in one call. A product the
// catalog no longer has is listed without a price (checkout will refuse
// it with a clear message).
func (s *Server) loadCart(ctx context.Context, c cart) (cartView, error) {
	v := cartView{Empty: len(c) == 0}
	if len(c) == 0 {
		return v, nil
	}
	resp, err := s.cfg.Products.BatchGetProducts(ctx, &productsv1.BatchGetProductsRequest{Ids: c.ids()})
	if err != nil {
		return v, err
	}
	byID := map[string]*productsv1.Product{}
	for _, p := range resp.GetProducts() {
		byID[p.GetId()] = p
	}
	totals := map[string]int64{}
	var currencies []string
	for _, l := range c {
		line := cartViewLine{ProductID: l.ProductID, Quantity: l.Quantity, Product: byID[l.ProductID]}
		if p := line.Product; p != nil {
			t := p.GetPriceCents() * l.Quantity
			line.LineTotal = money(t, p.GetCurrency())
			if _, seen := totals[p.GetCurrency()]; !seen {
				currencies = append(currencies, p.GetCurrency())
			}
			totals[p.GetCurrency()] += t
		}
		v.Lines = append(v.Lines, line)
	}
	for _, cur := range currencies {
		v.Totals = append(v.Totals, money(totals[cur], cur))
	}
	return v, nil
}
