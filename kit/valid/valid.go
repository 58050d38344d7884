// Package valid holds the input rules every service shares, written once:
// ids, idempotency keys, money. Each check records a field violation on an
// errs.Validation, so a service reports every problem with a request at
// once, under the field names of its own API.
package valid

import (
	"strings"

	"github.com/google/uuid"
	"golang.org/x/text/currency"

	"github.com/kitshop/kitshop/kit/errs"
)

// MaxIdempotencyKey is the longest idempotency key any kitshop service
// accepts, in bytes. It is one number platform-wide so that a key a
// caller derives for one service (a saga step) fits every other.
const MaxIdempotencyKey = 200

// MaxAmountCents is the largest amount of money one request may move: 10^10
// minor units (100 million in a two-decimal currency). It keeps sums of many
// lines far from int64 overflow and refuses values no shop sends.
const MaxAmountCents int64 = 10_000_000_000

// ID returns id in canonical form (lower-case, hyphenated), or records a
// violation of field and returns "". Only the 36-character spelling is
// accepted: uuid.Parse also takes "urn:uuid:" and brace forms, which
// would give one resource several names in URLs and idempotency scopes.
// Canonical ids sort as Postgres uuids do, which keyset pagination relies on.
func ID(v *errs.Validation, field, id string) string {
	if id == "" {
		v.Add(field, "is required")
		return ""
	}
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		v.Add(field, "must be a UUID")
		return ""
	}
	return u.String()
}

// IsID reports whether id is a UUID in the 36-character spelling.
func IsID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// IdempotencyKey records a violation unless key is present and at most
// MaxIdempotencyKey bytes of printable text.
func IdempotencyKey(v *errs.Validation, field, key string) {
	switch {
	case key == "":
		v.Add(field, "is required")
	case len(key) > MaxIdempotencyKey:
		v.Add(field, "must be at most 200 bytes")
	case strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r == 0x7f }):
		v.Add(field, "must not contain spaces or control characters")
	}
}

// OptionalIdempotencyKey is IdempotencyKey for a key a request may omit.
func OptionalIdempotencyKey(v *errs.Validation, field, key string) {
	if key != "" {
		IdempotencyKey(v, field, key)
	}
}

// Currency records a violation unless code is an ISO 4217 currency code in
// upper case ("USD"). Shapes such as "ABC" that name no currency are refused.
func Currency(v *errs.Validation, field, code string) {
	if len(code) != 3 || strings.ToUpper(code) != code {
		v.Add(field, "must be an ISO 4217 code such as USD")
		return
	}
	if _, err := currency.ParseISO(code); err != nil || notMoney[code] {
		v.Add(field, "must be an ISO 4217 code such as USD")
	}
}

// notMoney are ISO 4217 codes that name no currency anyone pays with:
// "no currency" (XXX), the testing code (XTS), precious metals, and
// accounting units. x/text knows them, so they are refused by name.
var notMoney = map[string]bool{
	"XXX": true, "XTS": true, "XAU": true, "XAG": true, "XPD": true, "XPT": true,
	"XDR": true, "XSU": true, "XUA": true, "XBA": true, "XBB": true, "XBC": true, "XBD": true,
}

// Amount records a violation unless 0 < cents <= MaxAmountCents.
func Amount(v *errs.Validation, field string, cents int64) {
	switch {
	case cents <= 0:
		v.Add(field, "must be > 0")
	case cents > MaxAmountCents:
		v.Add(field, "must be at most 10000000000")
	}
}

// Price records a violation unless 0 <= cents <= MaxAmountCents (a price
// may be zero: a free item).
func Price(v *errs.Validation, field string, cents int64) {
	switch {
	case cents < 0:
		v.Add(field, "must be >= 0")
	case cents > MaxAmountCents:
		v.Add(field, "must be at most 10000000000")
	}
}

// SingleLine records a violation when s holds a tab or a line break. The
// transports refuse every other control character; these three pass them
// because descriptions are free text, so a field that is one line (a
// name, a category, an address line) says so here. A category "c\nd"
// could never be matched by a query parameter, which may hold no line
// break, and a name with one forges extra lines in whatever prints it.
func SingleLine(v *errs.Validation, field, s string) {
	if strings.ContainsAny(s, "\t\r\n") {
		v.Add(field, "must be a single line without tabs")
	}
}
