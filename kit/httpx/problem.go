package httpx

import (
	"bytes"
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"

	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/netx"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/typed"
)

// ProblemContentType is the media type of RFC 9457 problem documents.
const ProblemContentType = "application/problem+json"

// MetaRetryAfter is the errs.Error Meta key whose value, whole seconds as
// an integer (or its decimal text), becomes the Retry-After header of an
// Unavailable answer.
const MetaRetryAfter = "retry_after_seconds"

// defaultRetryAfter is what an Unavailable answer advertises when the error
// does not say: short, because most unavailability here is a restarting
// instance or an open breaker that half-opens soon.
const defaultRetryAfter = "1"

// Problem is an RFC 9457 problem document with kitshop's extension members.
// Most code never builds one: WriteProblem does. It is exported for
// handlers that must add structured extensions, such as the order carried
// by a 402 PAYMENT_DECLINED.
type Problem struct {
	Type     string
	Title    string
	Status   int
	Detail   string
	Instance string
	Code     string
	TraceID  string
	Errors   []errs.FieldViolation
	// Extensions are extra members. They never replace a standard member.
	Extensions map[string]any
}

// standardMembers may not be overwritten by extensions: a client must be
// able to trust "status" and "code" whatever metadata an error carries.
var standardMembers = map[string]bool{
	"type": true, "title": true, "status": true, "detail": true, "instance": true,
	"code": true, "trace_id": true, "errors": true,
}

// NewProblem describes err for a client. Only the error's Message, Reason,
// field violations and Meta are used; its cause never is. Meta values
// become members with their JSON types: an int64 is a number, a bool a
// boolean.
//
// A failure that happened while ctx was done is described as what ended
// the request (see netx.ContextError): 504 when its deadline passed, 499
// when the client went away, whatever the work in progress returned.
//
// The error, cause and all, is noted on the request's logx.Record: it is
// what AccessLog's line reports, since the client sees none of the cause.
func NewProblem(ctx context.Context, instance string, err error) *Problem {
	e := errs.As(netx.ContextError(ctx, err, false))
	if e == nil {
		// A nil error reaching here is a server bug; it is still a failure.
		e = errs.New(errs.Internal, errs.ReasonInternal, "internal error")
	}
	logx.NoteError(ctx, e)
	p := &Problem{
		Type:     ProblemType(e.Reason),
		Title:    Title(e.Reason, e.HTTPStatus()),
		Status:   e.HTTPStatus(),
		Detail:   e.Message,
		Instance: instance,
		Code:     e.Reason,
		TraceID:  tracing.TraceID(ctx),
	}
	if e.Kind == errs.InvalidArgument && len(e.Fields) > 0 {
		p.Errors = e.Fields
	}
	p.Extensions = e.MetaValues()
	return p
}

// MarshalJSON writes the standard members first, in RFC order, then the
// extensions sorted by name, so documents are stable and easy to read.
func (p *Problem) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	member := func(name string, v any) error {
		raw, err := MarshalJSON(v)
		if err != nil {
			return err
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		key, _ := MarshalJSON(name)
		b.Write(key)
		b.WriteByte(':')
		b.Write(raw)
		return nil
	}
	std := []struct {
		name string
		v    any
		omit bool
	}{
		{"type", p.Type, p.Type == ""},
		{"title", p.Title, p.Title == ""},
		{"status", p.Status, p.Status == 0},
		{"detail", p.Detail, p.Detail == ""},
		{"instance", p.Instance, p.Instance == ""},
		{"code", p.Code, p.Code == ""},
		{"trace_id", p.TraceID, p.TraceID == ""},
		{"errors", p.Errors, len(p.Errors) == 0},
	}
	for _, m := range std {
		if m.omit {
			continue
		}
		if err := member(m.name, m.v); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(p.Extensions))
	for k := range p.Extensions {
		if !standardMembers[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		if err := member(k, p.Extensions[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Write sends p with the headers its status calls for: Retry-After on 503
// and WWW-Authenticate on 401 unless the caller already set them.
func (p *Problem) Write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Cache-Control", "no-store")
	switch p.Status {
	case http.StatusServiceUnavailable:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", retryAfter(p.Extensions))
		}
	case http.StatusUnauthorized:
		// RFC 9110 requires a challenge on every 401.
		if h.Get("WWW-Authenticate") == "" {
			h.Set("WWW-Authenticate", "Bearer")
		}
	}
	if p.Status < 100 || p.Status > 999 {
		// net/http panics on such codes; a hand-built Problem without a
		// status is a server bug, so say so.
		p.Status = http.StatusInternalServerError
	}
	body, err := MarshalJSON(p)
	if err != nil {
		// Only an unmarshalable extension can get here; answer with the
		// standard members rather than an empty body.
		stripped := *p
		stripped.Extensions = nil
		body, _ = MarshalJSON(&stripped)
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

func retryAfter(ext map[string]any) string {
	v, ok := ext[MetaRetryAfter]
	if !ok {
		return defaultRetryAfter
	}
	var n int64
	var err error
	switch v := v.(type) {
	case int64:
		n = v
	case string:
		n, err = strconv.ParseInt(v, 10, 64)
	default:
		return defaultRetryAfter
	}
	if err != nil || n < 0 {
		return defaultRetryAfter
	}
	return strconv.FormatInt(n, 10)
}

// WriteProblem answers r with err as an RFC 9457 problem document. The
// status is the error's (errs.Error.HTTPStatus), the instance is the
// request path, and an unclassified error becomes a bare 500.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	NewProblem(r.Context(), r.URL.Path, err).Write(w)
}

// ErrorEncoder is WriteProblem as a go-kit httptransport.ErrorEncoder. The
// instance comes from the request path that Handler (or go-kit's
// PopulateRequestContext) stores in ctx.
func ErrorEncoder(ctx context.Context, err error, w http.ResponseWriter) {
	NewProblem(ctx, requestPath(ctx), err).Write(w)
}

// ServerErrorEncoder is the go-kit server option installing ErrorEncoder.
func ServerErrorEncoder() httptransport.ServerOption {
	return httptransport.ServerErrorEncoder(ErrorEncoder)
}

// withRequestPath stores the path under go-kit's own key so that it
// coexists with PopulateRequestContext.
func withRequestPath(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, httptransport.ContextKeyRequestPath, r.URL.Path)
}

func requestPath(ctx context.Context) string {
	p, err := typed.Cast[string](ctx.Value(httptransport.ContextKeyRequestPath))
	if err != nil {
		return ""
	}
	return p
}

// ProblemType is the problem type URI for a reason: a relative reference,
// "/problems/insufficient-stock", so it resolves against whatever host
// served it. With no reason it is RFC 9457's "about:blank".
func ProblemType(reason string) string {
	if reason == "" {
		return "about:blank"
	}
	return "/problems/" + strings.ReplaceAll(strings.ToLower(reason), "_", "-")
}

// Title is the human-readable summary of a reason: its words in sentence
// case, "INSUFFICIENT_STOCK" -> "Insufficient stock", with the acronyms in
// titleAcronyms kept upper case, "MALFORMED_JSON" -> "Malformed JSON" and
// "SKU_TAKEN" -> "SKU taken". With no reason it is the status text.
func Title(reason string, status int) string {
	if reason == "" {
		return http.StatusText(status)
	}
	words := strings.Split(strings.ToLower(reason), "_")
	out := words[:0]
	for _, w := range words {
		if w == "" {
			continue // "A__B" or a trailing underscore
		}
		if titleAcronyms[w] {
			w = strings.ToUpper(w)
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return http.StatusText(status)
	}
	if first := out[0]; !titleAcronyms[strings.ToLower(first)] {
		out[0] = strings.ToUpper(first[:1]) + first[1:]
	}
	return strings.Join(out, " ")
}

// titleAcronyms are the words of kitshop reasons that are written upper
// case in prose. Reasons are ASCII SCREAMING_SNAKE_CASE, so a word is
// matched in lower case.
var titleAcronyms = map[string]bool{
	"api": true, "cvc": true, "http": true, "id": true, "ip": true, "json": true,
	"jwks": true, "jwt": true, "sku": true, "url": true, "uuid": true,
}
