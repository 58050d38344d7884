package httpx

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/kitshop/kitshop/kit/errs"
)

// Pagination limits from the API contract.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// ReasonInvalidPageToken marks a page_token this server did not issue or
// can no longer read.
const ReasonInvalidPageToken = "INVALID_PAGE_TOKEN"

// PageRequest is a validated page_size and the opaque page_token.
type PageRequest struct {
	Size  int
	Token string
}

// ParsePage reads page_size and page_token from the query string. See
// CheckPageSize for the size rules; a size that is not an integer is a 400
// naming the field.
func ParsePage(r *http.Request) (PageRequest, error) {
	q := r.URL.Query()
	size := 0
	if raw := q.Get("page_size"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return PageRequest{}, errs.Invalid(errs.FieldViolation{Field: "page_size", Message: "must be an integer"})
		}
		size = n
	}
	size, err := CheckPageSize(size)
	if err != nil {
		return PageRequest{}, err
	}
	return PageRequest{Size: size, Token: q.Get("page_token")}, nil
}

// CheckPageSize applies the contract's rules to a requested page size, for
// HTTP and gRPC alike: 0 (unset) means DefaultPageSize, anything above
// MaxPageSize is lowered to it (as Google's AIP-158 does, so a client
// asking for "everything" still gets pages), and a negative size is a 400.
func CheckPageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, errs.Invalid(errs.FieldViolation{Field: "page_size", Message: "must not be negative"})
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

// EncodePageToken turns a cursor (for example the sort key of the last item
// returned) into an opaque page_token. Tokens are not signed: the server
// must treat a decoded cursor as untrusted input, like any query value.
func EncodePageToken[T any](cursor T) (string, error) {
	raw, err := json.Marshal(cursor)
	if err != nil {
		return "", errs.Internalf(err, "httpx: encoding page token")
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// DecodePageToken reverses EncodePageToken. A token that does not decode
// is a 400 INVALID_PAGE_TOKEN with a page_token field violation.
func DecodePageToken[T any](token string) (T, error) {
	var cursor T
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(raw, &cursor)
	}
	if err != nil {
		var zero T
		e := errs.Wrap(errs.InvalidArgument, ReasonInvalidPageToken, err, "page_token is not valid")
		e.Fields = []errs.FieldViolation{{Field: "page_token", Message: "is not a token this server issued"}}
		return zero, e
	}
	return cursor, nil
}
