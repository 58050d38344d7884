// Package card is card data as a customer enters it, on its way from the
// checkout (orders) to the card processor (payments): a number and a CVC
// that no printing or serialization ever shows whole, brand inference and
// the checks (Luhn, expiry) both services apply. Nothing here stores a
// card; only its brand and last four digits may be kept.
package card

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// CardNumber is a primary account number. Every way Go has of printing or
// serializing a value (fmt verbs, JSON, text, slog) shows it redacted, so a
// log line, a span tag or an error message that happens to include one
// cannot leak it. Only Digits, called on purpose, sees the number.
type CardNumber string

// Digits is the full number, for the processor and nothing else.
func (n CardNumber) Digits() string { return string(n) }

// Last4 is the number's last four digits, or "" when it is too short for
// the last four to be anything but most of the number.
func (n CardNumber) Last4() string {
	if len(n) < minCardDigits {
		return ""
	}
	return string(n[len(n)-4:])
}

// String is the redacted form, "****4242".
func (n CardNumber) String() string {
	if l4 := n.Last4(); l4 != "" {
		return "****" + l4
	}
	return "****"
}

// GoString keeps %#v redacted.
func (n CardNumber) GoString() string { return fmt.Sprintf("CardNumber(%q)", n.String()) }

// Format makes every verb (%s, %v, %q, %x, %d ...) print the redacted form.
func (n CardNumber) Format(f fmt.State, verb rune) { writeRedacted(f, verb, n.String(), n.GoString()) }

// MarshalJSON redacts: a CardNumber is never serialized whole.
func (n CardNumber) MarshalJSON() ([]byte, error) { return json.Marshal(n.String()) }

// MarshalText redacts; logfmt encoders use it.
func (n CardNumber) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// LogValue redacts for log/slog.
func (n CardNumber) LogValue() slog.Value { return slog.StringValue(n.String()) }

// CVC is a card verification code. It is redacted like CardNumber and,
// like it, never stored.
type CVC string

// Digits is the code itself.
func (c CVC) Digits() string { return string(c) }

// String, GoString, Format, MarshalJSON, MarshalText and LogValue show
// "***", as CardNumber's methods show its redacted form.
func (c CVC) String() string                { return "***" }
func (c CVC) GoString() string              { return `CVC("***")` }
func (c CVC) Format(f fmt.State, verb rune) { writeRedacted(f, verb, c.String(), c.GoString()) }
func (c CVC) MarshalJSON() ([]byte, error)  { return json.Marshal(c.String()) }
func (c CVC) MarshalText() ([]byte, error)  { return []byte(c.String()), nil }
func (c CVC) LogValue() slog.Value          { return slog.StringValue(c.String()) }

// Card is card data as a customer entered it. It passes through the
// service on its way to the processor; only its brand and last four are
// ever recorded. Printing or serializing a Card shows only those.
type Card struct {
	Number   CardNumber
	ExpMonth int
	ExpYear  int
	CVC      CVC
}

// Brand is the card network inferred from the number's prefix.
func (c Card) Brand() Brand { return BrandOf(c.Number.Digits()) }

// String is the redacted form, "visa ****4242".
func (c Card) String() string { return string(c.Brand()) + " " + c.Number.String() }

// GoString keeps %#v redacted.
func (c Card) GoString() string { return fmt.Sprintf("Card(%q)", c.String()) }

// Format makes every verb print the redacted form, including %+v, which
// would otherwise walk the fields.
func (c Card) Format(f fmt.State, verb rune) { writeRedacted(f, verb, c.String(), c.GoString()) }

// MarshalJSON shows brand and last four only.
func (c Card) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Brand Brand  `json:"brand"`
		Last4 string `json:"last4"`
	}{c.Brand(), c.Number.Last4()})
}

// MarshalText is the redacted form; logfmt encoders use it.
func (c Card) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// LogValue redacts for log/slog.
func (c Card) LogValue() slog.Value {
	return slog.GroupValue(slog.String("brand", string(c.Brand())), slog.String("last4", c.Number.Last4()))
}

func writeRedacted(f fmt.State, verb rune, s, gos string) {
	if verb == 'v' && f.Flag('#') {
		s = gos
	}
	_, _ = io.WriteString(f, s)
}

const (
	minCardDigits = 12
	maxCardDigits = 19
	// maxExpiryYears bounds how far ahead an expiry may lie; anything
	// further is a typo, not a card.
	maxExpiryYears = 50
)

// Validate records every problem with the card under field prefix. A card
// is good through the last day of its expiry month, in UTC.
func (c Card) Validate(v *errs.Validation, prefix string, now time.Time) {
	now = now.UTC()
	switch {
	case !digitsBetween(c.Number.Digits(), minCardDigits, maxCardDigits):
		v.Add(prefix+".number", fmt.Sprintf("must be %d to %d digits", minCardDigits, maxCardDigits))
	case !LuhnValid(c.Number.Digits()):
		v.Add(prefix+".number", "fails the Luhn check")
	}
	monthOK := c.ExpMonth >= 1 && c.ExpMonth <= 12
	v.Check(monthOK, prefix+".exp_month", "must be 1 to 12")
	switch {
	case c.ExpYear < now.Year():
		v.Add(prefix+".exp_year", "card has expired")
	case c.ExpYear > now.Year()+maxExpiryYears:
		v.Add(prefix+".exp_year", fmt.Sprintf("must be a four-digit year within %d years", maxExpiryYears))
	case monthOK && c.ExpYear == now.Year() && time.Month(c.ExpMonth) < now.Month():
		v.Add(prefix+".exp_month", "card has expired")
	}
	v.Check(digitsBetween(c.CVC.Digits(), 3, 4), prefix+".cvc", "must be 3 or 4 digits")
}

// Brand is a card network.
type Brand string

// The brands the service recognizes; anything else is BrandUnknown, which
// is still chargeable.
const (
	BrandVisa       Brand = "visa"
	BrandMastercard Brand = "mastercard"
	BrandAmex       Brand = "amex"
	BrandDiscover   Brand = "discover"
	BrandUnknown    Brand = "unknown"
)

// BrandOf infers the network from the issuer identification prefixes.
func BrandOf(number string) Brand {
	if !allDigits(number) || len(number) < 6 {
		return BrandUnknown
	}
	p1, p2, p3, p4, p6 := prefix(number, 1), prefix(number, 2), prefix(number, 3), prefix(number, 4), prefix(number, 6)
	switch {
	case p1 == 4:
		return BrandVisa
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return BrandMastercard
	case p2 == 34, p2 == 37:
		return BrandAmex
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649, p6 >= 622126 && p6 <= 622925:
		return BrandDiscover
	}
	return BrandUnknown
}

// prefix is the number formed by the first n digits of an all-digit s.
func prefix(s string, n int) int {
	v := 0
	for i := 0; i < n && i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}

// digitsBetween reports whether s is minN to maxN decimal digits.
func digitsBetween(s string, minN, maxN int) bool {
	return len(s) >= minN && len(s) <= maxN && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// LuhnValid is the mod-10 check every card number carries.
func LuhnValid(number string) bool {
	if !allDigits(number) {
		return false
	}
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
