package main

import (
	"context"
	"errors"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
	"github.com/kitshop/kitshop/kit/valid"
)

// mayRead reports whether caller may see o: its owner or an admin.
// Everyone else is answered as if o did not exist.
func mayRead(caller auth.Claims, o Order) bool {
	return caller.IsAdmin() || caller.UserID() == o.UserID
}

func (s *service) GetOrder(ctx context.Context, id string) (Order, error) {
	caller, err := auth.RequireUser(ctx)
	if err != nil {
		return Order{}, err
	}
	var v errs.Validation
	if id = valid.ID(&v, "id", id); v.Err() != nil {
		return Order{}, v.Err()
	}
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if !mayRead(caller, o) {
		return Order{}, ErrNotFound
	}
	return o, nil
}

// ListOrders pages through the caller's own orders (an admin's own too:
// the route is "my orders"). A page token is bound to the user it was
// issued to.
func (s *service) ListOrders(ctx context.Context, req ListRequest) (OrderPage, error) {
	caller, err := auth.RequireUser(ctx)
	if err != nil {
		return OrderPage{}, err
	}
	var v errs.Validation
	size := page.CheckSize(&v, req.PageSize)
	if err := v.Err(); err != nil {
		return OrderPage{}, err
	}
	bind := page.Fingerprint("orders", caller.UserID())
	var after *OrderCursor
	if req.PageToken != "" {
		c, err := page.DecodeToken[OrderCursor](req.PageToken, bind)
		if err != nil {
			return OrderPage{}, err
		}
		if !valid.IsID(c.ID) || c.CreatedAt.IsZero() {
			return OrderPage{}, page.InvalidToken(errors.New("orders: cursor out of range"))
		}
		after = &c
	}
	// One more than a page tells whether another page follows.
	orders, err := s.store.Orders(ctx, caller.UserID(), after, size+1)
	if err != nil {
		return OrderPage{}, err
	}
	p := OrderPage{Orders: orders}
	if len(orders) > size {
		p.Orders = orders[:size]
		last := p.Orders[size-1]
		if p.NextPageToken, err = page.EncodeToken(OrderCursor{CreatedAt: last.CreatedAt.UTC(), ID: last.ID}, bind); err != nil {
			return OrderPage{}, err
		}
	}
	if p.Orders == nil {
		p.Orders = []Order{}
	}
	return p, nil
}

// ShipOrder moves a CONFIRMED order to SHIPPED (admin only). The store
// refuses any other state and an order being cancelled, atomically with
// the cancel saga's start, so a shipped order can never be cancelled.
func (s *service) ShipOrder(ctx context.Context, id string) (Order, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return Order{}, err
	}
	var v errs.Validation
	if id = valid.ID(&v, "id", id); v.Err() != nil {
		return Order{}, v.Err()
	}
	o, err := s.store.Ship(ctx, id, s.now().UTC())
	if errors.Is(err, ErrInvalidOrderState) {
		return Order{}, s.invalidState(ctx, err, Order{ID: id})
	}
	if err != nil {
		return Order{}, err
	}
	s.events.StatusChanged()
	return o, nil
}

// maxSagas bounds one Sagas listing.
const maxSagas = 500

// Sagas is for operators (admin only): the debug endpoint and tools.
func (s *service) Sagas(ctx context.Context, filter SagaFilter, limit int) ([]SagaInfo, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	var v errs.Validation
	switch filter {
	case SagasActive, SagasFailed, SagasAttention:
	default:
		v.Add("state", "must be active, failed or attention")
	}
	v.Check(limit >= 1 && limit <= maxSagas, "limit", "must be 1 to 500")
	if err := v.Err(); err != nil {
		return nil, err
	}
	recs, err := s.store.Sagas(ctx, filter, limit)
	if err != nil {
		return nil, err
	}
	out := make([]SagaInfo, len(recs))
	for i, r := range recs {
		out[i] = SagaInfo{OrderID: r.OrderID, Kind: r.Kind, State: r.State}
	}
	return out, nil
}
