package page

import "github.com/kitshop/kitshop/kit/errs"

// Page size limits from the API contract.
const (
	// DefaultSize is the size of a page whose request leaves it unset (0).
	DefaultSize = 20
	// MaxSize is the largest page served; larger requests are lowered to it.
	MaxSize = 100
)

// Size applies the contract's rules to a requested page size: 0 (unset)
// means DefaultSize, anything above MaxSize is lowered to it rather than
// refused (as Google's AIP-158 does, so a client asking for "everything"
// still gets pages), and a negative size is InvalidArgument with a
// page_size field violation.
func Size(n int) (int, error) {
	var v errs.Validation
	size := CheckSize(&v, n)
	return size, v.Err()
}

// CheckSize is Size for a service validating a whole request at once: it
// records the page_size violation in v, so that the client learns of it
// together with any other, and returns the size to serve (0 when it
// recorded a violation).
func CheckSize(v *errs.Validation, n int) int {
	switch {
	case n < 0:
		v.Add("page_size", "must not be negative")
		return 0
	case n == 0:
		return DefaultSize
	case n > MaxSize:
		return MaxSize
	}
	return n
}
