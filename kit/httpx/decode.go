package httpx

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"

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
	capped, err := OpenJSONBody(r)
	if err != nil {
		return v, err
	}
	body, err := readBody(capped, r.ContentLength)
	if err != nil {
		return v, err
	}
	if err := checkJSONText(body); err != nil {
		return v, err
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body), strictJSON)
	if err := json.UnmarshalDecode(dec, &v); err != nil {
		var zero T
		return zero, JSONError(err)
	}
	if err := CheckJSONEnd(dec); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// readBody reads the whole (capped) body. Holding it lets checkJSONText
// look at every string before anything is decoded; a kitshop body is a few
// hundred bytes, so that costs less than the decoder's own buffering.
func readBody(body io.Reader, contentLength int64) ([]byte, error) {
	size := 512
	if contentLength > 0 {
		size = int(contentLength) + 1 // +1: room to see EOF without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, BodyTooLarge()
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

// semanticMessage says what was wrong with a well-formed value, in a
// client's terms: "must be an integer, got JSON string".
func semanticMessage(sem *json.SemanticError) string {
	got := GotJSON(sem.JSONKind, sem.JSONValue)
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
			msg += ": " + Truncate(sem.Err.Error(), 100)
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
