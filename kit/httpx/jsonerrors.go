package httpx

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/kitshop/kitshop/kit/errs"
)

// The answers to a bad JSON body, exported so that every JSON decoder in
// kitshop (DecodeJSON here, kit/rest's descriptor-driven codec) fails with
// the same reasons, statuses, messages and field paths: a client cannot
// tell which decoder read its body.

// OpenJSONBody makes the checks a JSON body meets before a byte of it is
// read: a Content-Type of application/json (415), a declared length
// within MaxBodyBytes (413) and a body at all (400 MALFORMED_JSON). It
// returns the body capped at MaxBodyBytes; reading past the cap fails
// with an *http.MaxBytesError, which JSONError turns into 413.
func OpenJSONBody(r *http.Request) (io.Reader, error) {
	if err := CheckJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, BodyTooLarge()
	}
	if r.Body == nil {
		return nil, MalformedJSON("request body is empty")
	}
	// A nil ResponseWriter is allowed: it only loses the hint that makes
	// the server close the connection instead of draining the excess.
	return http.MaxBytesReader(nil, r.Body, MaxBodyBytes), nil
}

// CheckJSONContentType refuses, with 415 UNSUPPORTED_MEDIA_TYPE, a
// Content-Type other than application/json (parameters such as charset
// are allowed).
func CheckJSONContentType(ct string) error {
	if ct == "" {
		return errs.New(errs.InvalidArgument, ReasonUnsupportedMediaType,
			"Content-Type must be application/json").WithStatus(http.StatusUnsupportedMediaType)
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errs.Newf(errs.InvalidArgument, ReasonUnsupportedMediaType,
			"Content-Type must be application/json, got %q", Truncate(ct, 64)).WithStatus(http.StatusUnsupportedMediaType)
	}
	return nil
}

// CheckJSONEnd refuses anything after the one JSON value dec has read: a
// second value, or garbage, is a client bug that would otherwise go
// unnoticed.
func CheckJSONEnd(dec *jsontext.Decoder) error {
	_, err := dec.ReadToken()
	if errors.Is(err, io.EOF) {
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return BodyTooLarge()
	}
	return MalformedJSON(fmt.Sprintf("unexpected data after the JSON value at offset %d", dec.InputOffset()))
}

// MalformedJSON is 400 MALFORMED_JSON saying msg.
func MalformedJSON(msg string) *errs.Error {
	return errs.New(errs.InvalidArgument, ReasonMalformedJSON, msg)
}

// BodyTooLarge is 413 BODY_TOO_LARGE.
func BodyTooLarge() *errs.Error {
	return errs.Newf(errs.InvalidArgument, ReasonBodyTooLarge,
		"request body exceeds %d bytes", MaxBodyBytes).WithStatus(http.StatusRequestEntityTooLarge)
}

// UnknownField is 400 UNKNOWN_FIELD naming the member at p, one the
// request type does not declare.
func UnknownField(p jsontext.Pointer) *errs.Error {
	field := JSONFieldPath(p)
	e := errs.Newf(errs.InvalidArgument, ReasonUnknownField, "unknown field %q", field)
	e.Fields = []errs.FieldViolation{{Field: field, Message: "unknown field"}}
	return e
}

// BadJSONValue is 400 MALFORMED_JSON for a well-formed value, at p and
// ending at byte offset, that does not fit its member; msg says why
// ("must be an integer, got JSON string") and becomes the member's field
// violation.
func BadJSONValue(p jsontext.Pointer, offset int64, msg string) *errs.Error {
	field := JSONFieldPath(p)
	e := MalformedJSON(fmt.Sprintf("%s: %s (offset %d)", field, msg, offset))
	e.Fields = []errs.FieldViolation{{Field: field, Message: msg}}
	return e
}

// JSONError turns what the body reader, jsontext or json reported while
// decoding a body into the client-facing error: 413 past MaxBodyBytes,
// otherwise 400 MALFORMED_JSON (empty, cut short, malformed, duplicate
// member, wrong type) or UNKNOWN_FIELD, naming the member where there is
// one.
func JSONError(err error) error {
	var (
		mbe *http.MaxBytesError
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.As(err, &mbe):
		return BodyTooLarge()
	case errors.Is(err, io.EOF):
		// No value at all: nothing but whitespace.
		return MalformedJSON("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return MalformedJSON("request body ends in the middle of a JSON value")
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syn):
		field := JSONFieldPath(syn.JSONPointer)
		e := MalformedJSON(fmt.Sprintf("duplicate member %q at offset %d", field, syn.ByteOffset))
		e.Fields = []errs.FieldViolation{{Field: field, Message: "duplicate member"}}
		return e
	case errors.As(err, &syn):
		return MalformedJSON(fmt.Sprintf("malformed JSON at offset %d: %v", syn.ByteOffset, syn.Err))
	case errors.Is(err, json.ErrUnknownName) && errors.As(err, &sem):
		return UnknownField(sem.JSONPointer)
	case errors.As(err, &sem):
		return BadJSONValue(sem.JSONPointer, sem.ByteOffset, semanticMessage(sem))
	}
	return errs.Wrap(errs.InvalidArgument, ReasonMalformedJSON, err, "malformed JSON request body")
}

// JSONFieldPath writes a JSON pointer ("/items/0/quantity") the way
// kitshop's validation errors name fields ("items[0].quantity"). All-digit
// tokens are array indexes: kitshop member names are snake_case words,
// never numbers (map keys that are numbers read as indexes; they are rare
// enough in an API not to matter). The whole body is "(body)".
func JSONFieldPath(p jsontext.Pointer) string {
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

// GotJSON describes a JSON value the way a complaint about it quotes it:
// "JSON string", "JSON number 1.5". Numbers are shown (cut to 32 bytes);
// other values never are, since a string may hold anything.
func GotJSON(k jsontext.Kind, value []byte) string {
	got := "JSON " + jsonKindName(k)
	if k == '0' && len(value) > 0 {
		got += " " + Truncate(string(value), 32)
	}
	return got
}

// jsonKindName names a JSON kind as a client thinks of it.
func jsonKindName(k jsontext.Kind) string {
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

// Truncate cuts s, a piece of client input echoed in an error message, to
// n bytes, marking the cut: a hostile input must not make the answer (or
// the log line) as large as itself.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
