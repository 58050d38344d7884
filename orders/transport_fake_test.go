package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
	"github.com/kitshop/kitshop/kit/valid"
	"github.com/kitshop/kitshop/orders/client"
)

// wireFake is a small Service for the transport tests: it keeps orders of
// one catalog in memory and answers as the real service's contract says
// (the test cards, stock, idempotency, ownership, cancel and ship rules),
// so that the transports, and orders/client's contract table, can be
// checked without sagas, peers or a store. Tests steer the rest directly
// (setStatus, a pending cancellation, a request still in progress).
type wireFake struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change, for watchers
	products map[string]*wireProduct
	orders   map[string]Order
	placed   map[string]wirePlacement // by user and idempotency key
	cancels  map[string]string        // user and key -> order id
	clock    time.Time

	// cancelPending makes CancelOrder leave the order CONFIRMED and say
	// the cancellation still runs.
	cancelPending bool
	// sagas is what Sagas answers; lastSagas the request it got.
	sagas     []SagaInfo
	lastSagas SagasRequest
}

type wireProduct struct {
	sku, name, currency string
	priceCents, stock   int64
}

type wirePlacement struct {
	fingerprint string
	inProgress  bool
	placed      Placed
	err         error
}

const wireProductID = "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f21"

func newWireFake(stock int64) *wireFake {
	return &wireFake{
		changed: make(chan struct{}),
		products: map[string]*wireProduct{
			wireProductID: {sku: "MUG-1", name: "Blue mug", currency: "EUR", priceCents: 1299, stock: stock},
		},
		orders: map[string]Order{}, placed: map[string]wirePlacement{}, cancels: map[string]string{},
		clock: time.Date(2030, 5, 17, 10, 30, 0, 0, time.UTC),
	}
}

var _ Service = (*wireFake)(nil)

// now ticks a millisecond per call, so orders have distinct times.
func (f *wireFake) now() time.Time {
	f.clock = f.clock.Add(time.Millisecond)
	return f.clock
}

// notify wakes the watchers; f.mu must be held.
func (f *wireFake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *wireFake) setStatus(id string, s Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[id]
	o.Status, o.UpdatedAt = s, f.now()
	f.orders[id] = o
	f.notify()
}

// hold records key as claimed by a request still being served.
func (f *wireFake) hold(user, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.placed[user+"/"+key] = wirePlacement{inProgress: true}
}

func (f *wireFake) PlaceOrder(ctx context.Context, req PlaceOrderRequest) (Placed, error) {
	caller, err := auth.RequireUser(ctx)
	if err != nil {
		return Placed{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	var v errs.Validation
	if len(req.Items) == 0 {
		v.Add("items", "must have at least one item")
	}
	for i, it := range req.Items {
		field := fmt.Sprintf("items[%d]", i)
		if id := valid.ID(&v, field+".product_id", it.ProductID); id != "" && f.products[id] == nil {
			v.Add(field+".product_id", "unknown product")
		}
		v.Check(it.Quantity > 0, field+".quantity", "must be > 0")
	}
	req.Card.Validate(&v, "payment", now)
	valid.OptionalIdempotencyKey(&v, "idempotency_key", req.IdempotencyKey)
	if err := v.Err(); err != nil {
		return Placed{}, err
	}

	scope := caller.UserID() + "/" + req.IdempotencyKey
	fp := fmt.Sprintf("%v|%v|%s|%d/%d", req.Items, req.ShippingAddress, req.Card.Number.Last4(), req.Card.ExpMonth, req.Card.ExpYear)
	if prev, ok := f.placed[scope]; ok && req.IdempotencyKey != "" {
		switch {
		case prev.inProgress:
			return Placed{}, ErrIdempotencyInProgress
		case prev.fingerprint != fp:
			return Placed{}, ErrIdempotencyKeyReused
		case prev.err != nil:
			return Placed{}, asReplay(prev.err)
		}
		p := prev.placed
		p.Replayed = true
		return p, nil
	}

	o := Order{ID: uuid.NewString(), UserID: caller.UserID(), Status: StatusPending, ShippingAddress: req.ShippingAddress,
		CreatedAt: now, UpdatedAt: now}
	for _, it := range req.Items {
		p := f.products[it.ProductID]
		o.Items = append(o.Items, Item{ProductID: it.ProductID, SKU: p.sku, Name: p.name, Quantity: it.Quantity,
			UnitPriceCents: p.priceCents, LineTotalCents: p.priceCents * it.Quantity})
		o.TotalCents += p.priceCents * it.Quantity
		o.Currency = p.currency
	}
	var placed Placed
	err = nil
	switch short := f.shortOf(o); {
	case short != "":
		o.Status, o.FailureReason = StatusCancelled, client.ReasonInsufficientStock
		err = failedWith(ErrInsufficientStock, o).With(client.MetaProductID, short).With(client.MetaAvailable, f.products[short].stock)
	case req.Card.Number.Digits() == "4000000000000002":
		o.Status, o.FailureReason = StatusCancelled, client.ReasonPaymentDeclined
		err = failedWith(ErrPaymentDeclined, o)
	case req.Card.Number.Digits() == "4000000000009995":
		o.Status, o.FailureReason = StatusCancelled, client.ReasonInsufficientFunds
		err = failedWith(ErrInsufficientFunds, o)
	default:
		f.take(o, 1)
		if !req.Async {
			o.Status, o.PaymentID = StatusConfirmed, uuid.NewString()
		}
		placed = Placed{Order: o}
	}
	f.orders[o.ID] = o
	if req.IdempotencyKey != "" {
		f.placed[scope] = wirePlacement{fingerprint: fp, placed: placed, err: err}
	}
	f.notify()
	return placed, err
}

// shortOf names the first product of o without enough stock.
func (f *wireFake) shortOf(o Order) string {
	for _, it := range o.Items {
		if f.products[it.ProductID].stock < it.Quantity {
			return it.ProductID
		}
	}
	return ""
}

// take moves o's units out of stock (sign 1) or back (-1).
func (f *wireFake) take(o Order, sign int64) {
	for _, it := range o.Items {
		f.products[it.ProductID].stock -= sign * it.Quantity
	}
}

// visible is order id as caller may see it, or the errors the service
// gives: a malformed id, or NOT_FOUND for another's.
func (f *wireFake) visible(ctx context.Context, id string, admin bool) (Order, error) {
	var caller auth.Claims
	var err error
	if admin {
		caller, err = auth.RequireAdmin(ctx)
	} else {
		caller, err = auth.RequireUser(ctx)
	}
	if err != nil {
		return Order{}, err
	}
	var v errs.Validation
	if id = valid.ID(&v, "id", id); v.Err() != nil {
		return Order{}, v.Err()
	}
	o, ok := f.orders[id]
	if !ok || (!caller.IsAdmin() && caller.UserID() != o.UserID) {
		return Order{}, ErrNotFound
	}
	return o, nil
}

func (f *wireFake) GetOrder(ctx context.Context, id string) (Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.visible(ctx, id, false)
}

// ListOrders pages by position; the token is the offset, good enough for
// a fake.
func (f *wireFake) ListOrders(ctx context.Context, req ListRequest) (OrderPage, error) {
	caller, err := auth.RequireUser(ctx)
	if err != nil {
		return OrderPage{}, err
	}
	var v errs.Validation
	size := page.CheckSize(&v, req.PageSize)
	if err := v.Err(); err != nil {
		return OrderPage{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var own []Order
	for _, o := range f.orders {
		if o.UserID == caller.UserID() {
			own = append(own, o)
		}
	}
	slices.SortFunc(own, func(a, b Order) int { return b.CreatedAt.Compare(a.CreatedAt) })
	from, _ := strconv.Atoi(req.PageToken)
	from = min(from, len(own))
	p := OrderPage{Orders: own[from:min(from+size, len(own))]}
	if from+size < len(own) {
		p.NextPageToken = strconv.Itoa(from + size)
	}
	if p.Orders == nil {
		p.Orders = []Order{}
	}
	return p, nil
}

func (f *wireFake) CancelOrder(ctx context.Context, req CancelRequest) (Cancelled, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.visible(ctx, req.ID, false)
	if err != nil {
		return Cancelled{}, err
	}
	caller, _ := auth.ClaimsFrom(ctx)
	scope := caller.UserID() + "/" + req.IdempotencyKey
	replayed := req.IdempotencyKey != "" && f.cancels[scope] == o.ID
	switch {
	case o.Status == StatusCancelled && o.FailureReason == wireCancelledByCustomer:
		return Cancelled{Order: o, Replayed: replayed}, nil
	case o.Status != StatusConfirmed:
		return Cancelled{}, failedWith(ErrInvalidOrderState, o).With(client.MetaStatus, string(o.Status))
	case f.cancelPending:
		return Cancelled{Order: o, Pending: true}, nil
	}
	f.take(o, -1)
	o.Status, o.FailureReason, o.UpdatedAt = StatusCancelled, wireCancelledByCustomer, f.now()
	f.orders[o.ID] = o
	if req.IdempotencyKey != "" {
		f.cancels[scope] = o.ID
	}
	f.notify()
	return Cancelled{Order: o}, nil
}

// wireCancelledByCustomer is the real service's failure_reason of a
// cancelled order; the fake spells it the same.
const wireCancelledByCustomer = "CANCELLED_BY_CUSTOMER"

func (f *wireFake) ShipOrder(ctx context.Context, id string) (Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.visible(ctx, id, true)
	if err != nil {
		return Order{}, err
	}
	if o.Status != StatusConfirmed {
		return Order{}, failedWith(ErrInvalidOrderState, o).With(client.MetaStatus, string(o.Status))
	}
	o.Status, o.UpdatedAt = StatusShipped, f.now()
	f.orders[o.ID] = o
	f.notify()
	return o, nil
}

// WatchOrder sends the order now and on every change of its status, until
// it is final or ctx ends, as the Service contract says.
func (f *wireFake) WatchOrder(ctx context.Context, id string, send func(Order) error) error {
	var last Status
	for {
		f.mu.Lock()
		o, err := f.visible(ctx, id, false)
		changed := f.changed
		f.mu.Unlock()
		if err != nil {
			return err
		}
		if o.Status != last {
			if err := send(o); err != nil {
				return err
			}
			last = o.Status
		}
		if o.Status.Final() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *wireFake) Sagas(ctx context.Context, filter SagaFilter, limit int) ([]SagaInfo, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastSagas = SagasRequest{Filter: filter, Limit: limit}
	return f.sagas, nil
}
