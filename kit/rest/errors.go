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
