package httpx

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/kitshop/kitshop/kit/errs"
)

// MaxBodyBytes bounds every JSON request body. It is far above any
// legitimate kitshop request and keeps a hostile client from making the
// server buffer arbitrary amounts of memory.
const MaxBodyBytes = 1 << 20

// Reasons for requests rejected before they reach an endpoint.
const (
	ReasonUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	ReasonBodyTooLarge         = "BODY_TOO_LARGE"
	ReasonMalformedJSON        = "MALFORMED_JSON"
	ReasonUnknownField         = "UNKNOWN_FIELD"
)

// DecodeJSON strictly decodes the request body as one JSON value of type T.
//
// It rejects, as InvalidArgument errors carrying the status the API
// contract names:
//   - a Content-Type other than application/json (parameters such as
//     charset are allowed): 415 UNSUPPORTED_MEDIA_TYPE;
//   - a body over MaxBodyBytes: 413 BODY_TOO_LARGE;
//   - an empty body, malformed JSON (invalid UTF-8 included), a value of
//     the wrong JSON type, a member name given twice in one object, or
//     trailing data after the value: 400 MALFORMED_JSON;
//   - a member T does not declare: 400 UNKNOWN_FIELD naming it, because a
//     silently ignored misspelt field ("quantiy") is worse than an error;
//   - a string, anywhere in the body and whatever T makes of it, holding
//     a control character other than tab, line feed and carriage return
//     (see netx.TextViolation): 400 VALIDATION_FAILED naming the field by
//     its path. Postgres refuses NUL bytes, so without this one "\u0000"
//     in a login was a 500.
//
// Member names match T's json tags exactly: "EMAIL" is an unknown field,
// not email. That, and the duplicate rule, close the door on bodies that
// different JSON parsers (a proxy's, a client library's, ours) would read
// differently; encoding/json matches names case-insensitively and keeps
// the last duplicate, so decoding uses github.com/go-json-experiment/json
// (the encoding/json/v2 prototype) instead. It honours UnmarshalJSON and
// UnmarshalText methods as v1 does.
//
// Type mismatches, unknown and duplicate members also carry a field
// violation naming the member by its path ("items[0].quantity",
// "address.line1"), so that clients can point at the offending input.
func DecodeJSON[T any](r *http.Request) (T, error) {
	var v T
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return v, err
	}
	if r.ContentLength > MaxBodyBytes {
		return v, tooLarge()
	}
	if r.Body == nil {
		return v, malformed("request body is empty")
	}
	body, err := readBody(r)
	if err != nil {
		return v, err
	}
	if err := checkJSONText(body); err != nil {
		return v, err
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body), strictJSON)
	if err := json.UnmarshalDecode(dec, &v); err != nil {
		var zero T
		return zero, classifyJSONError(err)
	}
	// A second value, or garbage, after the first is a client bug that
	// would otherwise be silently ignored.
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		var zero T
		return zero, malformed(fmt.Sprintf("unexpected data after the JSON value at offset %d", dec.InputOffset()))
	}
	return v, nil
}

// readBody reads the whole body, at most MaxBodyBytes of it. Holding it
// lets checkJSONText look at every string before anything is decoded; a
// kitshop body is a few hundred bytes, so that costs less than the decoder's
// own buffering.
func readBody(r *http.Request) ([]byte, error) {
	// A nil ResponseWriter is allowed: it only loses the hint that makes
	// the server close the connection instead of draining the excess.
	body := http.MaxBytesReader(nil, r.Body, MaxBodyBytes)
	size := 512
	if r.ContentLength > 0 {
		size = int(r.ContentLength) + 1 // +1: room to see EOF without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		return nil, errs.Wrap(errs.InvalidArgument, ReasonMalformedJSON, err, "the request body could not be read")
	}
	return buf.Bytes(), nil
}

// strictJSON are DecodeJSON's decoding options. The values are the
// library's defaults today; they are spelt out because the contract
// depends on them and the library is still experimental.
var strictJSON = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// JSONBody is DecodeJSON in the shape go-kit decoders and Handler take.
func JSONBody[T any]() func(context.Context, *http.Request) (T, error) {
	return func(_ context.Context, r *http.Request) (T, error) { return DecodeJSON[T](r) }
}

func checkContentType(ct string) error {
	if ct == "" {
		return errs.New(errs.InvalidArgument, ReasonUnsupportedMediaType,
			"Content-Type must be application/json").WithStatus(http.StatusUnsupportedMediaType)
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errs.Newf(errs.InvalidArgument, ReasonUnsupportedMediaType,
			"Content-Type must be application/json, got %q", truncate(ct, 64)).WithStatus(http.StatusUnsupportedMediaType)
	}
	return nil
}

func classifyJSONError(err error) error {
	var (
		mbe *http.MaxBytesError
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.Is(err, io.EOF):
		// UnmarshalDecode's "no value at all": nothing but whitespace.
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
	case errors.Is(err, json.ErrUnknownName) && errors.As(err, &sem):
		field := fieldPath(sem.JSONPointer)
		e := errs.Newf(errs.InvalidArgument, ReasonUnknownField, "unknown field %q", field)
		e.Fields = []errs.FieldViolation{{Field: field, Message: "unknown field"}}
		return e
	case errors.As(err, &sem):
		field := fieldPath(sem.JSONPointer)
		msg := semanticMessage(sem)
		e := malformed(fmt.Sprintf("%s: %s (offset %d)", field, msg, sem.ByteOffset))
		e.Fields = []errs.FieldViolation{{Field: field, Message: msg}}
		return e
	}
	return errs.Wrap(errs.InvalidArgument, ReasonMalformedJSON, err, "malformed JSON request body")
}

// semanticMessage says what was wrong with a well-formed value, in a
// client's terms: "must be an integer, got JSON string".
func semanticMessage(sem *json.SemanticError) string {
	got := "JSON " + jsonKindName(sem.JSONKind)
	if sem.JSONKind == '0' && len(sem.JSONValue) > 0 {
		got += " " + truncate(string(sem.JSONValue), 32)
	}
	want := "another type"
	if t := sem.GoType; t != nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		want = jsonTypeName(t)
	}
	if want == "a string" && sem.JSONKind == '"' {
		// The right kind with a bad value: a time or an id that failed
		// to parse. The parser's message names the input, not internals.
		msg := "invalid value"
		if sem.Err != nil {
			msg += ": " + truncate(sem.Err.Error(), 100)
		}
		return msg
	}
	msg := fmt.Sprintf("must be %s, got %s", want, got)
	if sem.Err != nil && errors.Is(sem.Err, strconv.ErrRange) {
		msg += " (out of range)"
	}
	return msg
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// fieldPath writes a JSON pointer ("/items/0/quantity") the way kitshop's
// validation errors name fields ("items[0].quantity"). All-digit tokens are
// array indexes: kitshop member names are snake_case words, never numbers.
// The whole body is "(body)".
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

// jsonKindName names a JSON kind as jsontext reports it.
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

// jsonTypeName names what JSON a Go type decodes from, the way a JSON
// client thinks of it.
func jsonTypeName(t reflect.Type) string {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string" // time.Time, uuid.UUID, ...
	}
	switch k := t.Kind(); k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a string" // []byte is base64 text
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

func malformed(msg string) *errs.Error {
	return errs.New(errs.InvalidArgument, ReasonMalformedJSON, msg)
}

func tooLarge() *errs.Error {
	return errs.Newf(errs.InvalidArgument, ReasonBodyTooLarge,
		"request body exceeds %d bytes", MaxBodyBytes).WithStatus(http.StatusRequestEntityTooLarge)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
