package page

import (
	"encoding/base64"
	"errors"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReasonInvalidToken marks a page_token that this server did not issue,
// that was altered, or that was issued for a different query.
const ReasonInvalidToken = "INVALID_PAGE_TOKEN"

// ErrInvalidToken is the sentinel for refused page tokens: every error
// DecodeToken and InvalidToken return matches it with errors.Is (kit/errs
// matches on kind and reason). It is a 400 over HTTP.
var ErrInvalidToken = InvalidToken(nil)

// InvalidToken is the error for a refused page_token, with a page_token
// field violation. cause is kept for logs only. Callers return it when a
// token decodes but the cursor inside fails their own checks.
func InvalidToken(cause error) *errs.Error {
	e := errs.Wrap(errs.InvalidArgument, ReasonInvalidToken, cause,
		"page_token is malformed or does not match the query")
	e.Fields = []errs.FieldViolation{{Field: "page_token", Message: "is not a token this server issued for this query"}}
	return e
}

// envelope is a token's content. Both members are pointers so that a
// token missing either is refused rather than read as a zero value.
type envelope[T any] struct {
	Bind   *string `json:"b"`
	Cursor *T      `json:"c"`
}

// strict makes DecodeToken accept only what EncodeToken writes: member
// names exactly as tagged, each once, and nothing else.
var strict = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// EncodeToken returns the opaque page_token for cursor (typically the sort
// key of the last item of a page) within the list identified by bind: the
// unpadded base64url encoding of a JSON object holding both. The cursor is
// encoded with github.com/go-json-experiment/json, whose tags are those of
// encoding/json.
//
// Tokens are opaque to clients but neither secret nor signed: anyone can
// decode one and forge another. Never put in a cursor what the client may
// not see, and validate the values DecodeToken returns like any input.
//
// The error, Internal, means cursor cannot be JSON (a NaN or infinite
// float, invalid UTF-8, a channel, ...); it is a server bug, and answering
// it rather than an empty token keeps a client from taking a half-read
// list for a complete one.
func EncodeToken[T any](cursor T, bind string) (string, error) {
	raw, err := json.Marshal(envelope[T]{Bind: &bind, Cursor: &cursor})
	if err != nil {
		return "", errs.Internalf(err, "page: encoding page token")
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// DecodeToken returns the cursor in a token made by EncodeToken with the
// same bind. It refuses, with an InvalidToken error (400
// INVALID_PAGE_TOKEN, page_token field violation), a token that is not
// unpadded base64url, whose JSON does not have exactly the shape
// EncodeToken writes for T (unknown, missing or repeated members, wrong
// types, trailing data), or that was made for another bind, such as the
// same list with other filters.
//
// A cursor that passes is well-formed, not trustworthy: the caller must
// still check its values (an id's syntax, a float's finiteness, ...).
func DecodeToken[T any](token, bind string) (T, error) {
	var zero T
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return zero, InvalidToken(err)
	}
	var env envelope[T]
	if err := json.Unmarshal(raw, &env, strict); err != nil {
		return zero, InvalidToken(err)
	}
	switch {
	case env.Bind == nil || env.Cursor == nil:
		return zero, InvalidToken(errors.New("page: token lacks a bind or a cursor"))
	case *env.Bind != bind:
		return zero, InvalidToken(errors.New("page: token was issued for another query"))
	}
	return *env.Cursor, nil
}
