package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/valid"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// Limits of an order request.
const (
	maxItems       = 100
	maxQuantity    = 1000
	maxAddressText = 200
)

func (s *service) PlaceOrder(ctx context.Context, req PlaceOrderRequest) (Placed, error) {
	caller, err := auth.RequireUser(ctx)
	if err != nil {
		return Placed{}, err
	}
	now := s.now().UTC()
	if err := validatePlace(&req, now); err != nil {
		return Placed{}, err
	}
	o, err := s.priceFromCatalog(ctx, req)
	if err != nil {
		return Placed{}, err
	}
	o.ID, o.UserID, o.Status = uuid.NewString(), caller.UserID(), StatusPending
	o.ShippingAddress, o.CreatedAt, o.UpdatedAt = req.ShippingAddress, now, now

	data := checkoutData{UserID: o.UserID, Currency: o.Currency, Items: make([]lineAmount, len(o.Items))}
	for i, it := range o.Items {
		data.Items[i] = lineAmount{ProductID: it.ProductID, Quantity: it.Quantity, UnitPriceCents: it.UnitPriceCents}
	}
	st, err := s.newState(ctx, s.checkout, o.ID, data)
	if err != nil {
		return Placed{}, err
	}
	wait := waitBudget(ctx, req.Async)
	fp := fingerprint(req)
	var claim *IdemClaim
	if req.IdempotencyKey != "" {
		claim = &IdemClaim{UserID: o.UserID, Key: req.IdempotencyKey, Fingerprint: fp,
			LockedUntil: now.Add(lockFor(wait)), ExpiresAt: now.Add(s.opts.IdempotencyTTL)}
	}
	existing, created, err := s.store.CreateOrder(ctx, o, st, claim)
	if err != nil {
		return Placed{}, err
	}
	if !created {
		return s.answerExisting(ctx, req, existing, fp, wait)
	}
	s.events.StatusChanged() // the PENDING event
	s.cards.put(o.ID, req.Card)
	if req.Async {
		// Prefer: respond-async asks for the order as accepted, PENDING,
		// however fast the saga turns out to be (API.md: 202).
		return s.answerPlacement(ctx, o.UserID, req.IdempotencyKey, o.ID, wait, &o)
	}
	return s.answerPlacement(ctx, o.UserID, req.IdempotencyKey, o.ID, wait, nil)
}

// lockFor is how long an idempotency record stays locked by the request
// that claimed it: its wait, its answer, and a margin for the store
// writes around them. Past it, the request is presumed dead and a repeat
// takes the record over.
func lockFor(wait time.Duration) time.Duration { return wait + answerMargin + storeTimeout }

// validatePlace checks every field of req at once, under the JSON names
// of API.md (items[0].quantity, shipping_address.country, payment.number),
// and normalises what it accepts (ids in canonical form, country upper
// case). Duplicate product lines are refused, not merged: the client
// meant one line or made a mistake, and a silent sum could exceed the
// per-line limit it was told.
func validatePlace(req *PlaceOrderRequest, now time.Time) error {
	// The items are normalised in place: a copy, so that the caller's
	// slice (shared by a caller retrying the same request) is not.
	req.Items = slices.Clone(req.Items)
	var v errs.Validation
	switch {
	case len(req.Items) == 0:
		v.Add("items", "must have at least one item")
	case len(req.Items) > maxItems:
		v.Add("items", fmt.Sprintf("must have at most %d items", maxItems))
	default:
		first := make(map[string]int, len(req.Items))
		for i, it := range req.Items {
			f := fmt.Sprintf("items[%d]", i)
			id := valid.ID(&v, f+".product_id", it.ProductID)
			if id != "" {
				if j, dup := first[id]; dup {
					v.Add(f+".product_id", fmt.Sprintf("repeats items[%d]; put the whole quantity on one line", j))
				} else {
					first[id] = i
				}
				req.Items[i].ProductID = id
			}
			switch {
			case it.Quantity <= 0:
				v.Add(f+".quantity", "must be > 0")
			case it.Quantity > maxQuantity:
				v.Add(f+".quantity", fmt.Sprintf("must be at most %d", maxQuantity))
			}
		}
	}
	validateAddress(&v, &req.ShippingAddress)
	req.Card.Validate(&v, "payment", now)
	valid.OptionalIdempotencyKey(&v, "idempotency_key", req.IdempotencyKey)
	return v.Err()
}

// validateAddress applies the users service's address rules (line1, city
// and postal code required, single lines of at most 200 characters, an
// ISO 3166-1 alpha-2 country), under shipping_address.
func validateAddress(v *errs.Validation, a *Address) {
	const p = "shipping_address."
	a.Country = strings.ToUpper(strings.TrimSpace(a.Country))
	v.Check(strings.TrimSpace(a.Line1) != "", p+"line1", "is required")
	v.Check(strings.TrimSpace(a.City) != "", p+"city", "is required")
	v.Check(strings.TrimSpace(a.PostalCode) != "", p+"postal_code", "is required")
	v.Check(len(a.Country) == 2 && isUpperAlpha(a.Country), p+"country", "must be an ISO 3166-1 alpha-2 code")
	for _, f := range []struct{ name, val string }{
		{"line1", a.Line1}, {"line2", a.Line2}, {"city", a.City}, {"state", a.State}, {"postal_code", a.PostalCode},
	} {
		v.Check(utf8.RuneCountInString(f.val) <= maxAddressText, p+f.name, fmt.Sprintf("must be at most %d characters", maxAddressText))
		valid.SingleLine(v, p+f.name, f.val)
	}
}

func isUpperAlpha(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// priceFromCatalog looks the items up in the catalog: unknown and
// inactive products and mixed currencies are the client's to fix (400),
// before any order exists. It returns the order's items with SKU and
// name copied and the catalog's prices, which the reservation's replace.
func (s *service) priceFromCatalog(ctx context.Context, req PlaceOrderRequest) (Order, error) {
	ids := make([]string, len(req.Items))
	for i, it := range req.Items {
		ids[i] = it.ProductID
	}
	resp, err := s.products.BatchGetProducts(ctx, &productsv1.BatchGetProductsRequest{Ids: ids})
	if err != nil {
		return Order{}, err
	}
	byID := make(map[string]*productsv1.Product, len(resp.GetProducts()))
	for _, p := range resp.GetProducts() {
		byID[p.GetId()] = p
	}
	var v errs.Validation
	var o Order
	for i, it := range req.Items {
		f := fmt.Sprintf("items[%d].product_id", i)
		p, ok := byID[it.ProductID]
		switch {
		case !ok:
			v.Add(f, "unknown product")
			continue
		case !p.GetActive():
			v.Add(f, "is not for sale")
			continue
		case o.Currency == "":
			o.Currency = p.GetCurrency()
		case p.GetCurrency() != o.Currency:
			v.Add(f, fmt.Sprintf("is priced in %s, the items before it in %s: an order is paid in one currency", p.GetCurrency(), o.Currency))
			continue
		}
		line := p.GetPriceCents() * it.Quantity
		o.Items = append(o.Items, Item{ProductID: it.ProductID, SKU: p.GetSku(), Name: p.GetName(),
			Quantity: it.Quantity, UnitPriceCents: p.GetPriceCents(), LineTotalCents: line})
		o.TotalCents += line
	}
	if err := v.Err(); err != nil {
		return Order{}, err
	}
	if o.TotalCents > valid.MaxAmountCents {
		return Order{}, errs.Invalid(errs.FieldViolation{Field: "items",
			Message: fmt.Sprintf("the order's total must be at most %d in minor units", valid.MaxAmountCents)})
	}
	return o, nil
}
