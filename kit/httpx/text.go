package httpx

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gorilla/mux"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/netx"
)

// checkJSONText refuses a body with a control character in any string,
// member names included, naming the first such field. JSON cannot carry
// them raw (the decoder refuses that as malformed), only escaped, as
// \b, \f or \u00XX, or as raw DEL and C1 bytes; a body with none of those
// (nearly every body) is passed by one scan over its bytes without
// tokenizing it.
func checkJSONText(body []byte) error {
	if !mayHoldControls(body) {
		return nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			// Malformed JSON: the decoder that follows says how.
			return nil
		}
		if tok.Kind() == '"' {
			if msg := netx.TextViolation(tok.String(), true); msg != "" {
				if k, n := dec.StackIndex(dec.StackDepth()); k == '{' && n%2 == 1 {
					msg = "member name " + msg
				}
				return errs.Invalid(errs.FieldViolation{Field: JSONFieldPath(dec.StackPointer()), Message: msg})
			}
		}
		if dec.StackDepth() == 0 {
			return nil // one value read; trailing data is the decoder's to refuse
		}
	}
}

// mayHoldControls reports whether a JSON text could decode to a string
// with a control character: it has a \b, \f or \u escape, a raw DEL, or a
// raw C1 character (UTF-8 C2 80 to C2 9F).
func mayHoldControls(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			if i+1 < len(b) {
				switch b[i+1] {
				case 'b', 'f', 'u':
					return true
				}
			}
			i++ // skip the escaped character, which may be a backslash
		case 0x7f:
			return true
		case 0xc2:
			if i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
				return true
			}
		}
	}
	return false
}

// CheckPathVars refuses a request whose gorilla/mux path variables hold
// control characters or invalid UTF-8 (a "%00" in a path decodes to NUL),
// with 400 VALIDATION_FAILED naming each variable. Handler calls it before
// decoding; a handler that reads mux.Vars without Handler should call it
// first.
func CheckPathVars(r *http.Request) error {
	vars := mux.Vars(r)
	var bad []errs.FieldViolation
	for name, v := range vars {
		if msg := netx.TextViolation(v, false); msg != "" {
			bad = append(bad, errs.FieldViolation{Field: name, Message: msg})
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.SortFunc(bad, func(a, b errs.FieldViolation) int { return strings.Compare(a.Field, b.Field) })
	return errs.Invalid(bad...)
}

// ReasonMalformedQuery: a query string that does not parse (a bad %
// escape, a ";" separator). Go's url.Values would silently drop such
// pairs, so a filter the client thinks it sent would be ignored.
const ReasonMalformedQuery = "MALFORMED_QUERY"

// CheckQuery refuses a request whose query string does not parse (400
// MALFORMED_QUERY) or whose parameters hold control characters or invalid
// UTF-8 once decoded (400 VALIDATION_FAILED naming each parameter). The
// router from NewRouter runs it for every request it routes, and Handler
// for every request it serves; code reading r.URL.Query() elsewhere should
// call it first.
//
// A query of plain printable ASCII without % escapes or ";" (nearly all
// of them) is passed by one scan, without parsing or allocating.
func CheckQuery(r *http.Request) error {
	raw := r.URL.RawQuery
	if plainQuery(raw) {
		return nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return errs.New(errs.InvalidArgument, ReasonMalformedQuery, "malformed query string: "+queryErrorText(err))
	}
	var bad []errs.FieldViolation
	for name, vs := range q {
		if msg := netx.TextViolation(name, false); msg != "" {
			bad = append(bad, errs.FieldViolation{Field: "(query)", Message: "parameter name " + msg})
			continue
		}
		for _, v := range vs {
			if msg := netx.TextViolation(v, false); msg != "" {
				bad = append(bad, errs.FieldViolation{Field: name, Message: msg})
				break
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.SortFunc(bad, func(a, b errs.FieldViolation) int { return strings.Compare(a.Field, b.Field) })
	return errs.Invalid(bad...)
}

// plainQuery reports a query that cannot fail CheckQuery: printable ASCII
// with no escapes and no ";".
func plainQuery(raw string) bool {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 0x21 || c > 0x7e || c == '%' || c == ';' {
			return false
		}
	}
	return true
}

// queryErrorText says what url.ParseQuery refused without echoing more of
// the client's input than the offending escape.
func queryErrorText(err error) string {
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return "invalid escape " + strconv.Quote(Truncate(string(esc), 8))
	}
	if strings.Contains(err.Error(), "semicolon") {
		return `";" is not a parameter separator; use "&"`
	}
	return "cannot be parsed"
}
