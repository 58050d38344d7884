package web

import (
	"strings"

	"github.com/kitshop/kitshop/kit/errs"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// reasonMessages are the shopper's sentences for the problem codes a page
// can meet. A shopper never reads an error's own text, only these (and a
// validation failure's per-field messages, which are written for people).
var reasonMessages = map[string]string{
	ordersclient.ReasonPaymentDeclined:       "Your card was declined. Nothing was charged; try another card.",
	ordersclient.ReasonInsufficientFunds:     "The card has insufficient funds. Nothing was charged; try another card.",
	ordersclient.ReasonPaymentFailed:         "The payment could not be processed just now. Nothing was charged; please try again.",
	ordersclient.ReasonInsufficientStock:     "Not enough of an item in your cart is in stock. Lower its quantity and try again.",
	ordersclient.ReasonReservationExpired:    "An item sold out while you were checking out. Your payment was refunded.",
	ordersclient.ReasonInvalidOrderState:     "This order can no longer be cancelled.",
	ordersclient.ReasonIdempotencyInProgress: "This order is already being placed. Check My orders in a moment.",
	ordersclient.ReasonRequiresAttention:     "Something went wrong with this order; our staff have been alerted and will sort it out.",
	productsclient.ReasonProductNotFound:     "That product no longer exists.",
	productsclient.ReasonProductInactive:     "That product is no longer sold.",
	productsclient.ReasonInvalidPageToken:    "That page of results has expired; start again from the first page.",
	usersclient.ReasonEmailTaken:             "An account with this email already exists. Log in instead.",
	usersclient.ReasonInvalidCredentials:     "The email or password is wrong.",
	usersclient.ReasonUserDisabled:           "This account is disabled.",
}

// kindMessages cover the codes above do not.
var kindMessages = map[errs.Kind]string{
	errs.NotFound:          "We could not find that.",
	errs.Unauthenticated:   "Please log in again.",
	errs.PermissionDenied:  "You are not allowed to do that.",
	errs.ResourceExhausted: "Too many requests just now. Wait a moment and try again.",
	errs.Unavailable:       "The shop is busy or partly unavailable. Please try again in a moment.",
	errs.DeadlineExceeded:  "That took too long. Please try again; check My orders before placing an order again.",
}

// userMessage is the HTTP status and the sentence a page shows for err.
func userMessage(err error) (int, string) {
	e := errs.As(err)
	status := e.HTTPStatus()
	if m, ok := reasonMessages[e.Reason]; ok {
		if e.Reason == ordersclient.ReasonInsufficientStock {
			if avail := e.MetaString(ordersclient.MetaAvailable); avail != "" {
				m = "Only " + avail + " of an item in your cart " + isAre(avail) + " in stock. Lower its quantity and try again."
			}
		}
		return status, m
	}
	if e.Kind == errs.InvalidArgument && len(e.Fields) > 0 {
		parts := make([]string, 0, len(e.Fields))
		for _, f := range e.Fields {
			parts = append(parts, fieldLabel(f.Field)+": "+f.Message)
		}
		return status, "Please check the form. " + strings.Join(parts, "; ") + "."
	}
	if m, ok := kindMessages[e.Kind]; ok {
		return status, m
	}
	if e.Kind == errs.InvalidArgument {
		return status, "Please check the form and try again."
	}
	return status, "Something went wrong on our side (code " + e.Reason + "). Please try again."
}

func isAre(n string) string {
	if n == "1" {
		return "is"
	}
	return "are"
}

// fieldLabel names a request field as the form labels it.
func fieldLabel(field string) string {
	field = field[strings.LastIndexByte(field, '.')+1:]
	switch field {
	case "number", "card_number":
		return "Card number"
	case "exp_month", "exp_year":
		return "Expiry"
	case "cvc":
		return "CVC"
	}
	return strings.ReplaceAll(field, "_", " ")
}
