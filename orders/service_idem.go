package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/orders/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// fingerprint identifies what a PlaceOrder request asks for, to tell a
// repeat from another request under the same idempotency key: the items
// in order, the address, and of the card only what may be kept (brand,
// last four, expiry). Async is left out: it changes how the answer comes,
// not what is ordered.
func fingerprint(req PlaceOrderRequest) string {
	type item struct {
		P string `json:"p"`
		Q int64  `json:"q"`
	}
	doc := struct {
		Items   []item  `json:"i"`
		Address Address `json:"a"`
		Card    [4]any  `json:"c"`
		Version string  `json:"v"`
	}{Address: req.ShippingAddress, Version: "1",
		Card: [4]any{string(req.Card.Brand()), req.Card.Number.Last4(), req.Card.ExpMonth, req.Card.ExpYear}}
	for _, it := range req.Items {
		doc.Items = append(doc.Items, item{it.ProductID, it.Quantity})
	}
	b, _ := json.Marshal(doc) // plain strings and numbers: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// storedAnswer is the answer to an idempotent PlaceOrder, as kept in the
// idempotency record and replayed by both transports: the order, and the
// error when the placement failed.
type storedAnswer struct {
	Order orderDoc     `json:"order"`
	Error *storedError `json:"error,omitempty"`
}

type storedError struct {
	Kind    string         `json:"kind"`
	Reason  string         `json:"reason"`
	Message string         `json:"message"`
	Status  int            `json:"status,omitempty"`
	Meta    map[string]any `json:"meta,omitempty"`
	// Expected keeps a replayed answer out of the caller's breakers and
	// retries as the first one was (see placementError).
	Expected bool `json:"expected,omitempty"`
}

// orderDoc is Order's stored JSON form, with names of its own so that a
// field renamed in Go does not break records already stored.
type orderDoc struct {
	ID              string    `json:"id"`
	UserID          string    `json:"user_id"`
	Status          Status    `json:"status"`
	Items           []itemDoc `json:"items"`
	TotalCents      int64     `json:"total_cents"`
	Currency        string    `json:"currency"`
	ShippingAddress Address   `json:"shipping_address"`
	PaymentID       string    `json:"payment_id,omitempty"`
	FailureReason   string    `json:"failure_reason,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

type itemDoc struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
}

func toDoc(o Order) orderDoc {
	d := orderDoc{ID: o.ID, UserID: o.UserID, Status: o.Status, TotalCents: o.TotalCents, Currency: o.Currency,
		ShippingAddress: o.ShippingAddress, PaymentID: o.PaymentID, FailureReason: o.FailureReason,
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Items: make([]itemDoc, len(o.Items))}
	for i, it := range o.Items {
		d.Items[i] = itemDoc(it)
	}
	return d
}

func (d orderDoc) order() Order {
	o := Order{ID: d.ID, UserID: d.UserID, Status: d.Status, TotalCents: d.TotalCents, Currency: d.Currency,
		ShippingAddress: d.ShippingAddress, PaymentID: d.PaymentID, FailureReason: d.FailureReason,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Items: make([]Item, len(d.Items))}
	for i, it := range d.Items {
		o.Items[i] = Item(it)
	}
	return o
}

func encodeAnswer(o Order, err error) (json.RawMessage, error) {
	a := storedAnswer{Order: toDoc(o)}
	if err != nil {
		e := errs.As(err)
		a.Error = &storedError{Kind: e.Kind.String(), Reason: e.Reason, Message: e.Message, Status: e.Status, Meta: e.MetaValues(), Expected: e.Expected}
	}
	return json.Marshal(a)
}

// replay rebuilds the answer stored in raw.
func replay(raw json.RawMessage) (Placed, error) {
	var a storedAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return Placed{}, errs.Internalf(err, "decoding a stored idempotent answer")
	}
	o := a.Order.order()
	if a.Error == nil {
		return Placed{Order: o, Replayed: true}, nil
	}
	e := &errs.Error{Kind: kindNamed(a.Error.Kind), Reason: a.Error.Reason, Message: a.Error.Message,
		Status: a.Error.Status, Meta: a.Error.Meta, Expected: a.Error.Expected}
	return Placed{}, asReplay(failedWith(e, o))
}

func kindNamed(name string) errs.Kind {
	for k := errs.Internal; k <= errs.Canceled; k++ {
		if k.String() == name {
			return k
		}
	}
	return errs.Internal
}

// answerExisting answers a PlaceOrder whose idempotency key is recorded
// already: refused when the request differs, replayed when complete,
// refused while the first request is still being served, and taken over
// when that request is presumed dead (its lock expired): this request
// then answers as the first would have, from the order's saga, and
// records that answer.
func (s *service) answerExisting(ctx context.Context, req PlaceOrderRequest, rec IdemRecord, fp string, wait time.Duration) (Placed, error) {
	if rec.Fingerprint != fp {
		return Placed{}, ErrIdempotencyKeyReused
	}
	if rec.Complete {
		return replay(rec.Response)
	}
	now := s.now().UTC()
	if rec.LockedUntil.After(now) {
		return Placed{}, ErrIdempotencyInProgress
	}
	rec, taken, err := s.store.LockIdempotent(ctx, rec.UserID, rec.Key, now, now.Add(lockFor(wait)))
	switch {
	case err != nil:
		return Placed{}, err
	case rec.Complete:
		return replay(rec.Response)
	case !taken:
		return Placed{}, ErrIdempotencyInProgress
	}
	// This request carries the card again: a saga that has not charged
	// yet (its first instance died) can still charge.
	s.cards.put(rec.OrderID, req.Card)
	return s.answerPlacement(ctx, rec.UserID, rec.Key, rec.OrderID, wait, nil)
}

// answerPlacement drives order id's checkout, waits for it up to wait,
// and answers from the order as it then is; with an idempotency key it
// records that answer.
//
// accepted, when set, is the order as this request created it, to answer
// with instead of its current state (an asynchronous placement).
func (s *service) answerPlacement(ctx context.Context, userID, key, id string, wait time.Duration, accepted *Order) (Placed, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	_, failure := s.await(wctx, id, s.runner.start(wctx, id))
	cancel()

	// The answer is built and recorded even when the caller has gone: a
	// repeat must find it.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer rcancel()
	o, err := s.store.Order(rctx, id)
	if err != nil {
		return Placed{}, err
	}
	if o.Status != StatusPending {
		// The charge is over (or was never to come): a card a retry
		// handed in for a saga another instance finished must not stay.
		s.cards.drop(id)
	}
	if accepted != nil {
		o, failure = *accepted, nil
	}
	answer := placementError(o, failure)
	if key != "" {
		raw, err := encodeAnswer(o, answer)
		if err == nil {
			err = s.store.CompleteIdempotent(rctx, userID, key, raw, s.now().UTC())
		}
		if err != nil {
			// The record stays in progress; once its lock expires a repeat
			// takes it over and answers from the order.
			_ = level.Warn(s.logger).Log("msg", "could not record an idempotent answer", "order_id", id, "err", err)
		}
	}
	if answer != nil {
		return Placed{}, answer
	}
	return Placed{Order: o}, nil
}

// placementError is the error a placement that left o answers with (nil
// for PENDING, CONFIRMED or later). failure is the step error noted while
// driving the saga here, whose metadata (INSUFFICIENT_STOCK's product and
// quantity) the answer carries when it explains o's failure reason.
func placementError(o Order, failure *errs.Error) error {
	switch o.Status {
	case StatusRequiresAttention:
		return failedWith(ErrRequiresAttention, o)
	case StatusCancelled:
	default:
		return nil
	}
	var base *errs.Error
	switch o.FailureReason {
	case client.ReasonPaymentDeclined:
		base = ErrPaymentDeclined
	case client.ReasonInsufficientFunds:
		base = ErrInsufficientFunds
	case client.ReasonPaymentFailed:
		base = ErrPaymentFailed
	case client.ReasonReservationExpired:
		base = ErrReservationExpired
	case client.ReasonInsufficientStock:
		base = ErrInsufficientStock
		if failure != nil && failure.Reason == client.ReasonInsufficientStock {
			base = withMeta(base, failure, client.MetaProductID, client.MetaAvailable)
			if pid := failure.MetaString(client.MetaProductID); pid != "" {
				base.Message = "insufficient stock of product " + pid
			}
		}
	case usersclient.ReasonUserDisabled:
		base = errs.New(errs.PermissionDenied, usersclient.ReasonUserDisabled, "the account is disabled; the order was cancelled")
	case usersclient.ReasonUserNotFound:
		// The kind users gives the reason, so that it means one thing.
		base = errs.New(errs.NotFound, usersclient.ReasonUserNotFound, "the account placing the order no longer exists; the order was cancelled")
	case errs.ReasonUnavailable:
		// A service the checkout needs stayed unavailable past the step's
		// retries. The order is closed: placing it again needs a new key.
		// Expected: orders itself is healthy and this answer is final (a
		// retry with the key replays it), so the caller's breaker and
		// retry policy must not count it as an outage of orders.
		base = errs.New(errs.Unavailable, errs.ReasonUnavailable,
			"a service the checkout needs was unavailable; the order was cancelled and any payment refunded").AsExpected()
	default:
		base = errs.Newf(errs.FailedPrecondition, o.FailureReason, "the order could not be completed (%s) and was cancelled; any payment was refunded", o.FailureReason)
	}
	return failedWith(base, o)
}

func withMeta(base, from *errs.Error, keys ...string) *errs.Error {
	for _, k := range keys {
		if v, ok := from.Meta[k]; ok {
			base = base.With(k, v)
		}
	}
	return base
}

// replayedFailure marks a failure that repeats the first answer to an
// idempotency key (PlaceOrder's stored error), so that the transports say
// Idempotent-Replayed as they do for a replayed success. It wraps the
// error transparently: kind, reason and the order stay reachable.
type replayedFailure struct{ error }

func (r replayedFailure) Unwrap() error { return r.error }

// asReplay marks err as a replayed failure (nil stays nil). The service
// wraps the error it rebuilds from an idempotency record with it.
func asReplay(err error) error {
	if err == nil {
		return nil
	}
	return replayedFailure{err}
}

func isReplay(err error) bool {
	var r replayedFailure
	return errors.As(err, &r)
}
