package rest

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// The codec answers bad bodies exactly as httpx.DecodeJSON does (same
// reasons, statuses and field paths), so a service moving to kit/rest
// changes no error a client sees. The helpers below are small copies of
// httpx's unexported ones.

func checkContentType(ct string) error {
	if ct == "" {
		return errs.New(errs.InvalidArgument, httpx.ReasonUnsupportedMediaType,
			"Content-Type must be application/json").WithStatus(http.StatusUnsupportedMediaType)
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errs.Newf(errs.InvalidArgument, httpx.ReasonUnsupportedMediaType,
			"Content-Type must be application/json, got %q", truncate(ct, 64)).WithStatus(http.StatusUnsupportedMediaType)
	}
	return nil
}

func malformed(msg string) *errs.Error {
	return errs.New(errs.InvalidArgument, httpx.ReasonMalformedJSON, msg)
}

func tooLarge() *errs.Error {
	return errs.Newf(errs.InvalidArgument, httpx.ReasonBodyTooLarge,
		"request body exceeds %d bytes", httpx.MaxBodyBytes).WithStatus(http.StatusRequestEntityTooLarge)
}

// badValue is a well-formed JSON value that does not fit its field:
// MALFORMED_JSON naming the member, as httpx reports a type mismatch.
func badValue(dec *jsontext.Decoder, msg string) *errs.Error {
	field := fieldPath(dec.StackPointer())
	e := malformed(fmt.Sprintf("%s: %s (offset %d)", field, msg, dec.InputOffset()))
	e.Fields = []errs.FieldViolation{{Field: field, Message: msg}}
	return e
}

// unknownMember is a member the route does not accept.
func unknownMember(dec *jsontext.Decoder) *errs.Error {
	field := fieldPath(dec.StackPointer())
	e := errs.Newf(errs.InvalidArgument, httpx.ReasonUnknownField, "unknown field %q", field)
	e.Fields = []errs.FieldViolation{{Field: field, Message: "unknown field"}}
	return e
}

// classify turns what jsontext or the body reader reported into the
// client-facing error.
func classify(err error) error {
	var (
		mbe *http.MaxBytesError
		syn *jsontext.SyntacticError
		e   *errs.Error
	)
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.Is(err, io.EOF):
		return malformed("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("request body ends in the middle of a JSON value")
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syn):
		field := fieldPath(syn.JSONPointer)
		e := malformed(fmt.Sprintf("duplicate member %q at offset %d", field, syn.ByteOffset))
		e.Fields = []errs.FieldViolation{{Field: field, Message: "duplicate member"}}
		return e
	case errors.As(err, &syn):
		return malformed(fmt.Sprintf("malformed JSON at offset %d: %v", syn.ByteOffset, syn.Err))
	}
	return errs.Wrap(errs.InvalidArgument, httpx.ReasonMalformedJSON, err, "malformed JSON request body")
}

// fieldPath writes a JSON pointer ("/items/0/quantity") the way kitshop's
// validation errors name fields ("items[0].quantity"); the whole body is
// "(body)". All-digit tokens are array indexes: proto field names never
// are numbers. (Map keys that are numbers read as indexes; they are rare
// enough in an API not to matter.)
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if tok != "" && strings.Trim(tok, "0123456789") == "" {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	if b.Len() == 0 {
		return "(body)"
	}
	return b.String()
}

// kindName names a JSON kind as a client thinks of it.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
