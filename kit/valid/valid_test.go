package valid

import (
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
)

func violations(f func(v *errs.Validation)) int {
	var v errs.Validation
	f(&v)
	e := errs.As(v.Err())
	if e == nil {
		return 0
	}
	return len(e.Fields)
}

func TestID(t *testing.T) {
	var v errs.Validation
	if got := ID(&v, "id", "9B1DEB4D-3B7D-4BAD-9BDD-2B0D7B3DCB6D"); got != "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d" {
		t.Fatalf("canonical form: got %q", got)
	}
	for _, bad := range []string{"", "x", "{9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d}", "urn:uuid:9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d"} {
		if n := violations(func(v *errs.Validation) { ID(v, "id", bad) }); n != 1 {
			t.Errorf("ID(%q): %d violations, want 1", bad, n)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	cases := map[string]int{"k-1": 0, "": 1, strings.Repeat("a", 200): 0, strings.Repeat("a", 201): 1, "a b": 1, "a\x00": 1}
	for key, want := range cases {
		if n := violations(func(v *errs.Validation) { IdempotencyKey(v, "k", key) }); n != want {
			t.Errorf("IdempotencyKey(%q): %d violations, want %d", key, n, want)
		}
	}
	if n := violations(func(v *errs.Validation) { OptionalIdempotencyKey(v, "k", "") }); n != 0 {
		t.Errorf("optional empty key refused")
	}
}

func TestCurrency(t *testing.T) {
	cases := map[string]int{"USD": 0, "EUR": 0, "JPY": 0, "XOF": 0, "XXX": 1, "XTS": 1, "XAU": 1, "usd": 1, "ABC": 1, "US": 1, "USDD": 1, "": 1}
	for code, want := range cases {
		if n := violations(func(v *errs.Validation) { Currency(v, "currency", code) }); n != want {
			t.Errorf("Currency(%q): %d violations, want %d", code, n, want)
		}
	}
}

func TestAmountAndPrice(t *testing.T) {
	for cents, want := range map[int64]int{1: 0, 0: 1, -1: 1, MaxAmountCents: 0, MaxAmountCents + 1: 1} {
		if n := violations(func(v *errs.Validation) { Amount(v, "a", cents) }); n != want {
			t.Errorf("Amount(%d): %d violations, want %d", cents, n, want)
		}
	}
	for cents, want := range map[int64]int{0: 0, -1: 1, MaxAmountCents + 1: 1} {
		if n := violations(func(v *errs.Validation) { Price(v, "p", cents) }); n != want {
			t.Errorf("Price(%d): %d violations, want %d", cents, n, want)
		}
	}
}

func TestSingleLine(t *testing.T) {
	for s, want := range map[string]int{"Blue mug": 0, "": 0, "a\nb": 1, "a\rb": 1, "a\tb": 1} {
		if n := violations(func(v *errs.Validation) { SingleLine(v, "name", s) }); n != want {
			t.Errorf("SingleLine(%q): %d violations, want %d", s, n, want)
		}
	}
}
