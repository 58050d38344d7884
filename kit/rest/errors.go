package rest

import (
	"errors"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// The codec answers bad bodies exactly as httpx.DecodeJSON does (same
// reasons, statuses, messages and field paths) because both build their
// answers with httpx's exported constructors, so a service moving to
// kit/rest changes no error a client sees.

// classify turns what the decoder, jsontext or the body reader reported
// into the client-facing error. The decoder's own complaints (a value
// that does not fit its field, an unknown member) are already final.
func classify(err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return e
	}
	return httpx.JSONError(err)
}

// bad is httpx.BadJSONValue for the value the decoder has just read.
func (d *decoder) bad(msg string) error {
	return httpx.BadJSONValue(d.dec.StackPointer(), d.dec.InputOffset(), msg)
}

// invalidText is 400 VALIDATION_FAILED for text, just read, that breaks
// kit/netx's rule (a control character): the answer httpx.DecodeJSON,
// path variables, query parameters and gRPC give, with the member's full
// path ("items[1].name"). The JSON is well formed, so it is not
// MALFORMED_JSON.
func (d *decoder) invalidText(msg string) error {
	return errs.Invalid(errs.FieldViolation{Field: httpx.JSONFieldPath(d.dec.StackPointer()), Message: msg})
}
