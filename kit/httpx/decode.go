package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

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
//   - an empty body, malformed JSON, a value of the wrong JSON type or
//     trailing data after the value: 400 MALFORMED_JSON;
//   - a member T does not declare: 400 UNKNOWN_FIELD naming it, because a
//     silently ignored misspelt field ("quantiy") is worse than an error.
//
// Type mismatches and unknown fields also carry a field violation so that
// clients can point at the offending input.
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
	// A nil ResponseWriter is allowed: it only loses the hint that makes
	// the server close the connection instead of draining the excess.
	body := http.MaxBytesReader(nil, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var zero T
		return zero, classifyJSONError(err)
	}
	// A second value, or garbage, after the first is a client bug that
	// would otherwise be silently ignored.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var zero T
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return zero, tooLarge()
		}
		return zero, malformed(fmt.Sprintf("unexpected data after the JSON value at offset %d", dec.InputOffset()))
	}
	return v, nil
}

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
		mbe    *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.Is(err, io.EOF):
		return malformed("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("request body ends in the middle of a JSON value")
	case errors.As(err, &syntax):
		return malformed(fmt.Sprintf("malformed JSON at offset %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: ")))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		want := "another type"
		if typ.Type != nil {
			want = jsonTypeName(typ.Type.Kind().String())
		}
		msg := fmt.Sprintf("must be %s, got JSON %s", want, typ.Value)
		e := malformed(fmt.Sprintf("%s: %s (offset %d)", field, msg, typ.Offset))
		e.Fields = []errs.FieldViolation{{Field: field, Message: msg}}
		return e
	}
	// encoding/json has no typed error for unknown fields; its message is
	// stable: `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if uq, uerr := strconv.Unquote(name); uerr == nil {
			name = uq
		}
		e := errs.Newf(errs.InvalidArgument, ReasonUnknownField, "unknown field %q", name)
		e.Fields = []errs.FieldViolation{{Field: name, Message: "unknown field"}}
		return e
	}
	return errs.Wrap(errs.InvalidArgument, ReasonMalformedJSON, err, "malformed JSON request body")
}

// jsonTypeName names a Go kind the way a JSON client thinks of it.
func jsonTypeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "a boolean"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "map", kind == "struct":
		return "an object"
	}
	return kind
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
