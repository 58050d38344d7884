package main

// In-process fakes of the peers, for the service's unit tests: pure logic
// with the peers' documented contracts (idempotency by key, release of a
// reservation never made, refund of a charge that never happened...).
// Errors cross a gRPC status and back, as they do through the real clients.

import (
	"context"
	"sync"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/errs"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// hook is called by every fake method twice: with after=false before the
// call has any effect (an error then fails the call with no effect), and
// with after=true once the effect is applied (an error then is returned
// although the effect happened: a lost answer). ctx is the call's.
type hook func(ctx context.Context, method string, after bool) error

// fakeNet holds the hook shared by the three fakes, swappable at any time.
type fakeNet struct {
	mu    sync.Mutex
	h     hook
	calls map[string]int
}

func (p *fakeNet) setHook(h hook) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.h = h
}

func (p *fakeNet) call(ctx context.Context, method string, after bool) error {
	p.mu.Lock()
	h := p.h
	if !after {
		if p.calls == nil {
			p.calls = map[string]int{}
		}
		p.calls[method]++
	}
	p.mu.Unlock()
	if h == nil {
		return nil
	}
	if err := h(ctx, method, after); err != nil {
		return wire(err)
	}
	return nil
}

func (p *fakeNet) count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

// wire is err as the real clients return it: through a gRPC status and
// back (kit/grpcx), so only what survives the hop reaches the service.
func wire(err error) error { return errs.FromGRPC(errs.ToGRPC(err)) }

func grpcErr(e *errs.Error) error { return wire(e) }

// fakeUsers knows every user except those listed as unknown or disabled.
type fakeUsers struct {
	*fakeNet
	mu       sync.Mutex
	disabled map[string]bool
}

func (u *fakeUsers) ValidateUser(ctx context.Context, r *usersv1.ValidateUserRequest) (*usersv1.ValidateUserResponse, error) {
	if err := u.call(ctx, "ValidateUser", false); err != nil {
		return nil, err
	}
	u.mu.Lock()
	disabled := u.disabled[r.GetUserId()]
	u.mu.Unlock()
	if disabled {
		return nil, grpcErr(errs.New(errs.PermissionDenied, usersclient.ReasonUserDisabled, "user is disabled"))
	}
	if err := u.call(ctx, "ValidateUser", true); err != nil {
		return nil, err
	}
	return &usersv1.ValidateUserResponse{UserId: r.GetUserId(), Role: "customer"}, nil
}

type fakeProduct struct {
	id, sku, name, currency string
	price                   int64
	stock, reserved         int64
	active                  bool
	initial                 int64
}

type fakeReservation struct {
	id, key string
	status  productsv1.ReservationStatus
	items   []*productsv1.ReservationItem
}

// fakeProducts is a catalog with stock, reservations and restocks.
type fakeProducts struct {
	*fakeNet
	mu           sync.Mutex
	products     map[string]*fakeProduct
	reservations map[string]*fakeReservation // by id
	byKey        map[string]*fakeReservation // by Reserve's key
	releasedKeys map[string]bool             // released before made
	restocked    map[string]bool             // RestockItems keys applied
	sold         map[string]int64            // units committed less restocked, by product
}

func newFakeProducts(p *fakeNet) *fakeProducts {
	return &fakeProducts{fakeNet: p, products: map[string]*fakeProduct{}, reservations: map[string]*fakeReservation{},
		byKey: map[string]*fakeReservation{}, releasedKeys: map[string]bool{}, restocked: map[string]bool{}, sold: map[string]int64{}}
}

func (f *fakeProducts) add(name string, price int64, currency string, stock int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.NewString()
	f.products[id] = &fakeProduct{id: id, sku: "SKU-" + name, name: name, currency: currency, price: price,
		stock: stock, active: true, initial: stock}
	return id
}

func (f *fakeProducts) set(id string, fn func(*fakeProduct)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.products[id])
}

func (f *fakeProducts) get(id string) fakeProduct {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.products[id]
}

func (f *fakeProducts) soldOf(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sold[id]
}

func (f *fakeProducts) reservation(id string) (fakeReservation, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reservations[id]
	if !ok {
		return fakeReservation{}, false
	}
	return *r, true
}

func (f *fakeProducts) pb(p *fakeProduct) *productsv1.Product {
	return &productsv1.Product{Id: p.id, Sku: p.sku, Name: p.name, PriceCents: p.price, Currency: p.currency,
		Stock: p.stock, Reserved: p.reserved, Available: p.stock - p.reserved, Active: p.active}
}

func (f *fakeProducts) BatchGetProducts(ctx context.Context, r *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error) {
	if err := f.call(ctx, "BatchGetProducts", false); err != nil {
		return nil, err
	}
	f.mu.Lock()
	resp := &productsv1.BatchGetProductsResponse{}
	for _, id := range r.GetIds() {
		if p, ok := f.products[id]; ok {
			resp.Products = append(resp.Products, f.pb(p))
		} else {
			resp.MissingIds = append(resp.MissingIds, id)
		}
	}
	f.mu.Unlock()
	if err := f.call(ctx, "BatchGetProducts", true); err != nil {
		return nil, err
	}
	return resp, nil
}

func (f *fakeProducts) ReserveInventory(ctx context.Context, r *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error) {
	if err := f.call(ctx, "ReserveInventory", false); err != nil {
		return nil, err
	}
	res, err := f.reserve(r)
	if err != nil {
		return nil, err
	}
	if err := f.call(ctx, "ReserveInventory", true); err != nil {
		return nil, err
	}
	return res, nil
}

func (f *fakeProducts) reserve(r *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.releasedKeys[r.GetIdempotencyKey()] {
		return nil, grpcErr(errs.New(errs.FailedPrecondition, productsclient.ReasonReservationReleased, "released"))
	}
	if res, ok := f.byKey[r.GetIdempotencyKey()]; ok {
		return &productsv1.Reservation{Id: res.id, Status: res.status, Items: res.items}, nil
	}
	for _, it := range r.GetItems() {
		p, ok := f.products[it.GetProductId()]
		switch {
		case !ok:
			return nil, grpcErr(errs.New(errs.NotFound, productsclient.ReasonProductNotFound, "no such product").With("product_id", it.GetProductId()))
		case !p.active:
			return nil, grpcErr(errs.New(errs.FailedPrecondition, productsclient.ReasonProductInactive, "inactive").With("product_id", p.id))
		case p.stock-p.reserved < it.GetQuantity():
			return nil, grpcErr(errs.New(errs.FailedPrecondition, productsclient.ReasonInsufficientStock, "insufficient stock").
				With("product_id", p.id).With("available", p.stock-p.reserved).With("requested", it.GetQuantity()))
		}
	}
	res := &fakeReservation{id: r.GetReservationId(), key: r.GetIdempotencyKey(), status: productsv1.ReservationStatus_RESERVATION_STATUS_RESERVED}
	for _, it := range r.GetItems() {
		p := f.products[it.GetProductId()]
		p.reserved += it.GetQuantity()
		res.items = append(res.items, &productsv1.ReservationItem{ProductId: p.id, Quantity: it.GetQuantity(), UnitPriceCents: p.price, Currency: p.currency})
	}
	f.reservations[res.id], f.byKey[res.key] = res, res
	return &productsv1.Reservation{Id: res.id, Status: res.status, Items: res.items, ExpiresAt: timestamppb.Now()}, nil
}

func (f *fakeProducts) CommitReservation(ctx context.Context, r *productsv1.CommitReservationRequest) (*productsv1.Reservation, error) {
	if err := f.call(ctx, "CommitReservation", false); err != nil {
		return nil, err
	}
	f.mu.Lock()
	res, ok := f.reservations[r.GetReservationId()]
	var err error
	switch {
	case !ok:
		err = grpcErr(errs.New(errs.NotFound, productsclient.ReasonReservationNotFound, "no reservation"))
	case res.status == productsv1.ReservationStatus_RESERVATION_STATUS_RELEASED:
		err = grpcErr(errs.New(errs.FailedPrecondition, productsclient.ReasonReservationReleased, "released"))
	case res.status == productsv1.ReservationStatus_RESERVATION_STATUS_RESERVED:
		for _, it := range res.items {
			p := f.products[it.GetProductId()]
			p.reserved -= it.GetQuantity()
			p.stock -= it.GetQuantity()
			f.sold[p.id] += it.GetQuantity()
		}
		res.status = productsv1.ReservationStatus_RESERVATION_STATUS_COMMITTED
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := f.call(ctx, "CommitReservation", true); err != nil {
		return nil, err
	}
	return &productsv1.Reservation{Id: res.id, Status: res.status}, nil
}

func (f *fakeProducts) ReleaseReservation(ctx context.Context, r *productsv1.ReleaseReservationRequest) (*productsv1.Reservation, error) {
	if err := f.call(ctx, "ReleaseReservation", false); err != nil {
		return nil, err
	}
	f.mu.Lock()
	res, ok := f.byKey[r.GetReservationIdempotencyKey()]
	var err error
	switch {
	case !ok:
		f.releasedKeys[r.GetReservationIdempotencyKey()] = true
		res = &fakeReservation{status: productsv1.ReservationStatus_RESERVATION_STATUS_RELEASED}
	case res.status == productsv1.ReservationStatus_RESERVATION_STATUS_COMMITTED:
		err = grpcErr(errs.New(errs.FailedPrecondition, productsclient.ReasonReservationCommitted, "committed"))
	case res.status == productsv1.ReservationStatus_RESERVATION_STATUS_RESERVED:
		for _, it := range res.items {
			f.products[it.GetProductId()].reserved -= it.GetQuantity()
		}
		res.status = productsv1.ReservationStatus_RESERVATION_STATUS_RELEASED
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := f.call(ctx, "ReleaseReservation", true); err != nil {
		return nil, err
	}
	return &productsv1.Reservation{Id: res.id, Status: res.status}, nil
}

func (f *fakeProducts) RestockItems(ctx context.Context, r *productsv1.RestockItemsRequest) (*productsv1.RestockItemsResponse, error) {
	if err := f.call(ctx, "RestockItems", false); err != nil {
		return nil, err
	}
	f.mu.Lock()
	replayed := f.restocked[r.GetIdempotencyKey()]
	if !replayed {
		f.restocked[r.GetIdempotencyKey()] = true
		for _, it := range r.GetItems() {
			f.products[it.GetProductId()].stock += it.GetQuantity()
			f.sold[it.GetProductId()] -= it.GetQuantity()
		}
	}
	f.mu.Unlock()
	if err := f.call(ctx, "RestockItems", true); err != nil {
		return nil, err
	}
	return &productsv1.RestockItemsResponse{Replayed: replayed}, nil
}

// Test cards (payments' simulated processor's).
const (
	cardOK         = "4242424242424242"
	cardDeclined   = "4000000000000002"
	cardNoFunds    = "4000000000009995"
	cardProcessing = "4000000000000119"
)

// fakePayments charges at most once per key and refunds by charge key.
type fakePayments struct {
	*fakeNet
	mu       sync.Mutex
	charges  map[string]*paymentsv1.Payment // by charge key
	refunds  map[string]string              // refund key -> charge key
	captures int                            // money movements: the processor's charges
}

func newFakePayments(p *fakeNet) *fakePayments {
	return &fakePayments{fakeNet: p, charges: map[string]*paymentsv1.Payment{}, refunds: map[string]string{}}
}

func (f *fakePayments) Charge(ctx context.Context, r *paymentsv1.ChargeRequest) (*paymentsv1.Payment, error) {
	if err := f.call(ctx, "Charge", false); err != nil {
		return nil, err
	}
	p, err := f.charge(r)
	if err != nil {
		return nil, err
	}
	if err := f.call(ctx, "Charge", true); err != nil {
		return nil, err
	}
	return p, nil
}

func (f *fakePayments) charge(r *paymentsv1.ChargeRequest) (*paymentsv1.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.charges[r.GetIdempotencyKey()]
	if !ok {
		p = &paymentsv1.Payment{Id: uuid.NewString(), OrderId: r.GetOrderId(), UserId: r.GetUserId(),
			AmountCents: r.GetAmountCents(), Currency: r.GetCurrency(), CardLast4: r.GetCard().GetNumber()[12:]}
		f.charges[r.GetIdempotencyKey()] = p
	} else if p.AmountCents != r.GetAmountCents() {
		return nil, grpcErr(errs.ErrIdempotencyKeyReused)
	}
	switch p.Status {
	case paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED:
		return p, nil
	case paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED:
		return nil, grpcErr(declineOf(p))
	}
	switch r.GetCard().GetNumber() {
	case cardDeclined:
		p.Status, p.DeclineCode = paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED, "card_declined"
		return nil, grpcErr(declineOf(p))
	case cardNoFunds:
		p.Status, p.DeclineCode = paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED, "insufficient_funds"
		return nil, grpcErr(declineOf(p))
	case cardProcessing:
		p.Status = paymentsv1.PaymentStatus_PAYMENT_STATUS_FAILED
		return nil, grpcErr(errs.New(errs.Unavailable, paymentsclient.ReasonProcessingError, "processing error").
			With(paymentsclient.MetaPaymentID, p.Id).AsExpected())
	}
	p.Status = paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED
	f.captures++
	return p, nil
}

func declineOf(p *paymentsv1.Payment) *errs.Error {
	reason := paymentsclient.ReasonCardDeclined
	if p.DeclineCode == "insufficient_funds" {
		reason = paymentsclient.ReasonInsufficientFunds
	}
	return errs.New(errs.FailedPrecondition, reason, "declined").With(paymentsclient.MetaPaymentID, p.Id).WithStatus(402)
}

func (f *fakePayments) Refund(ctx context.Context, r *paymentsv1.RefundRequest) (*paymentsv1.RefundResponse, error) {
	if err := f.call(ctx, "Refund", false); err != nil {
		return nil, err
	}
	resp, err := f.refund(r)
	if err != nil {
		return nil, err
	}
	if err := f.call(ctx, "Refund", true); err != nil {
		return nil, err
	}
	return resp, nil
}

func (f *fakePayments) refund(r *paymentsv1.RefundRequest) (*paymentsv1.RefundResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.charges[r.GetChargeIdempotencyKey()]
	if ck, seen := f.refunds[r.GetIdempotencyKey()]; seen {
		if ck != r.GetChargeIdempotencyKey() {
			return nil, grpcErr(errs.ErrIdempotencyKeyReused)
		}
		if p != nil && p.Status == paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED {
			return &paymentsv1.RefundResponse{Outcome: paymentsv1.RefundOutcome_REFUND_OUTCOME_REFUNDED, Payment: p, AmountCents: p.AmountCents}, nil
		}
		return &paymentsv1.RefundResponse{Outcome: paymentsv1.RefundOutcome_REFUND_OUTCOME_NOTHING_TO_REFUND}, nil
	}
	f.refunds[r.GetIdempotencyKey()] = r.GetChargeIdempotencyKey()
	switch {
	case !ok || p.Status == paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED || p.Status == paymentsv1.PaymentStatus_PAYMENT_STATUS_FAILED:
		return &paymentsv1.RefundResponse{Outcome: paymentsv1.RefundOutcome_REFUND_OUTCOME_NOTHING_TO_REFUND}, nil
	case p.Status == paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED:
		// A second refund under another key: nothing is left to refund.
		return nil, grpcErr(errs.New(errs.FailedPrecondition, paymentsclient.ReasonRefundExceedsCaptured, "nothing left"))
	}
	p.Status, p.RefundedCents = paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED, p.AmountCents
	return &paymentsv1.RefundResponse{Outcome: paymentsv1.RefundOutcome_REFUND_OUTCOME_REFUNDED, Payment: p, AmountCents: p.AmountCents}, nil
}

func (f *fakePayments) GetChargeByKey(ctx context.Context, r *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error) {
	if err := f.call(ctx, "GetChargeByKey", false); err != nil {
		return nil, err
	}
	f.mu.Lock()
	p, ok := f.charges[r.GetIdempotencyKey()]
	var c *paymentsv1.Payment
	if ok {
		c = &paymentsv1.Payment{Id: p.Id, Status: p.Status, AmountCents: p.AmountCents, DeclineCode: p.DeclineCode}
	}
	f.mu.Unlock()
	if !ok {
		return nil, grpcErr(errs.New(errs.NotFound, paymentsclient.ReasonChargeNotFound, "no charge"))
	}
	if err := f.call(ctx, "GetChargeByKey", true); err != nil {
		return nil, err
	}
	return c, nil
}

// payRecord is what a test reads of a fake payment.
type payRecord struct {
	ID                   string
	Status               paymentsv1.PaymentStatus
	Amount, Refunded     int64
	DeclineCode, OrderID string
}

// payment returns the charge recorded for an order.
func (f *fakePayments) payment(orderID string) (payRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.charges[chargeKey(orderID)]
	if !ok {
		return payRecord{}, false
	}
	return payRecord{ID: p.Id, Status: p.Status, Amount: p.AmountCents, Refunded: p.RefundedCents, DeclineCode: p.DeclineCode, OrderID: p.OrderId}, true
}

func (f *fakePayments) captured() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.captures
}
