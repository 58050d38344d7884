package main

import (
	"context"
	"errors"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
	"github.com/kitshop/kitshop/kit/valid"
)

// ListRequest asks for a page of payments, every status, oldest first.
// OrderID, when set, keeps that order's payments only. PageSize and
// PageToken follow kit/page (0 is 20, above 100 is 100).
type ListRequest struct {
	PageSize  int
	PageToken string
	OrderID   string
}

// PaymentPage is one page of ListPayments; NextPageToken is "" on the
// last page.
type PaymentPage struct {
	Payments      []Payment
	NextPageToken string
}

// PaymentCursor is a payment's place in the (created_at, id) order.
type PaymentCursor struct {
	CreatedAt time.Time
	ID        string
}

// PaymentQuery is a validated page request for the store: up to Limit
// payments after After (nil: from the first), of OrderID only when set.
type PaymentQuery struct {
	OrderID string
	After   *PaymentCursor
	Limit   int
}

// ListPayments lists payments for the orders consistency checker, which
// walks them all to find money no order accounts for. It is a plain read:
// a PENDING payment is listed as it stands, never settled here (that is
// GetChargeByKey's and the recovery job's business), so a walk over every
// payment never calls the processor.
func (s *service) ListPayments(ctx context.Context, req ListRequest) (PaymentPage, error) {
	var v errs.Validation
	size := page.CheckSize(&v, req.PageSize)
	orderID := ""
	if req.OrderID != "" {
		orderID = valid.ID(&v, "order_id", req.OrderID)
	}
	if err := v.Err(); err != nil {
		return PaymentPage{}, err
	}
	bind := listFingerprint(orderID)
	q := PaymentQuery{OrderID: orderID, Limit: size + 1} // one more says whether a next page exists
	if req.PageToken != "" {
		c, err := decodeListToken(req.PageToken, bind)
		if err != nil {
			return PaymentPage{}, err
		}
		q.After = &c
	}
	got, err := s.store.ListPayments(ctx, q)
	if err != nil {
		return PaymentPage{}, err
	}
	out := PaymentPage{Payments: got}
	if len(got) > size {
		out.Payments = got[:size]
		last := out.Payments[size-1]
		if out.NextPageToken, err = page.EncodeToken(listToken{C: last.CreatedAt, I: last.ID}, bind); err != nil {
			return PaymentPage{}, err
		}
	}
	return out, nil
}

// listToken is the cursor inside a ListPayments page token: the last
// payment's created_at and id. Both are checked on the way back in, since
// a token is client input however opaque it looks.
type listToken struct {
	C time.Time `json:"c"`
	I string    `json:"i"`
}

// listFingerprint binds a token to its filter, so that a token of one
// order's list is refused on another's (or on the whole list). "*" is
// no order id.
func listFingerprint(orderID string) string {
	if orderID == "" {
		orderID = "*"
	}
	return page.Fingerprint("payments", orderID)
}

func decodeListToken(token, bind string) (PaymentCursor, error) {
	t, err := page.DecodeToken[listToken](token, bind)
	if err != nil {
		return PaymentCursor{}, err
	}
	// Postgres compares the id as a uuid and the memory store as a
	// string: they agree only on the canonical spelling.
	var v errs.Validation
	if id := valid.ID(&v, "page_token", t.I); id == "" || id != t.I || t.C.IsZero() {
		return PaymentCursor{}, page.InvalidToken(errors.New("payments: cursor is not a (created_at, canonical id) pair"))
	}
	return PaymentCursor{CreatedAt: t.C.UTC(), ID: t.I}, nil
}
