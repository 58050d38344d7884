package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/reporter"

	"github.com/kitshop/kitshop/kit/errs"
)

func TestWriteProblemStandardMembers(t *testing.T) {
	err := errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "product p1 has 1 available, 2 requested").
		With("product_id", "p1").With("available", 1)
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodPost, "/api/v1/orders?x=1", nil), err)

	if rec.Code != http.StatusConflict {
		t.Fatalf("status = %d, want 409", rec.Code)
	}
	p := problemBody(t, rec)
	want := map[string]any{
		"type": "/problems/insufficient-stock", "title": "Insufficient stock", "status": 409.0,
		"detail": "product p1 has 1 available, 2 requested", "instance": "/api/v1/orders",
		"code": "INSUFFICIENT_STOCK", "product_id": "p1", "available": 1.0,
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %#v, want %#v", k, p[k], v)
		}
	}
	for _, absent := range []string{"errors", "trace_id"} {
		if _, ok := p[absent]; ok {
			t.Errorf("%s present in %v", absent, p)
		}
	}
	if len(p) != len(want) {
		t.Errorf("unexpected members: %v", p)
	}
	// Standard members come first, in RFC order, so documents read well.
	if !strings.HasPrefix(rec.Body.String(), `{"type":"/problems/insufficient-stock","title":`) {
		t.Errorf("body order: %s", rec.Body)
	}
}

func TestWriteProblemMetaKeepsJSONTypes(t *testing.T) {
	err := errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "not enough").
		With("product_id", "p1").With("available", 15).With("requested", int64(16)).
		With("ratio", 0.5).With("partial", false).With("sku", "007")
	e := errs.As(err)
	e.Meta["direct"] = uint32(3) // set without With: still a number
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodPost, "/api/v1/products/p1/stock", nil), e)
	// Exact text, not a decoded map: "available":15 must be a JSON number,
	// and a string that looks like one ("007") must stay a string.
	for _, member := range []string{`"available":15`, `"requested":16`, `"ratio":0.5`, `"partial":false`,
		`"product_id":"p1"`, `"sku":"007"`, `"direct":3`} {
		if !strings.Contains(rec.Body.String(), member) {
			t.Errorf("body lacks %s: %s", member, rec.Body)
		}
	}
	// A client's available < qty check works on the decoded document.
	var doc struct {
		Available int `json:"available"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.Available != 15 {
		t.Fatalf("available does not decode as a number: %v %+v", err, doc)
	}
}

func TestWriteProblemMetaCannotOverrideStandardMembers(t *testing.T) {
	err := errs.New(errs.NotFound, "ORDER_NOT_FOUND", "no such order").
		With("status", 200).With("code", "OK").With("type", "x").With("trace_id", "forged").With("order_id", "o1")
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/api/v1/orders/o1", nil), err)
	p := problemBody(t, rec)
	if p["status"] != 404.0 || p["code"] != "ORDER_NOT_FOUND" || p["type"] != "/problems/order-not-found" || p["order_id"] != "o1" {
		t.Fatalf("problem = %v", p)
	}
	if _, ok := p["trace_id"]; ok {
		t.Fatalf("meta forged trace_id: %v", p)
	}
	if strings.Count(rec.Body.String(), `"status"`) != 1 {
		t.Fatalf("duplicate member in %s", rec.Body)
	}
}

func TestWriteProblemValidationErrors(t *testing.T) {
	var v errs.Validation
	v.Add("items[0].quantity", "must be > 0")
	v.Add("email", "is required")
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodPost, "/x", nil), v.Err())
	p := problemBody(t, rec)
	if rec.Code != 400 || p["code"] != errs.ReasonValidation {
		t.Fatalf("status %d problem %v", rec.Code, p)
	}
	list, ok := p["errors"].([]any)
	if !ok || len(list) != 2 {
		t.Fatalf("errors = %#v", p["errors"])
	}
	first, _ := list[0].(map[string]any)
	if first["field"] != "items[0].quantity" || first["message"] != "must be > 0" {
		t.Fatalf("errors[0] = %v", first)
	}

	// Field violations on a non-validation kind are not reported as
	// "errors": the contract reserves that member for 400s.
	e := errs.New(errs.Internal, "X", "boom")
	e.Fields = []errs.FieldViolation{{Field: "f", Message: "m"}}
	rec = httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil), e)
	if _, ok := problemBody(t, rec)["errors"]; ok {
		t.Fatalf("errors on a 500: %s", rec.Body)
	}
}

func TestWriteProblemNeverLeaksCause(t *testing.T) {
	secret := "pq: password authentication failed for user kitshop at 10.1.2.3:5432"
	for _, err := range []error{
		errors.New(secret),
		errs.Internalf(errors.New(secret), "loading order"),
		errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, errors.New(secret), "orders store unavailable"),
	} {
		rec := httptest.NewRecorder()
		WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil), err)
		if rec.Code < 500 {
			t.Fatalf("status %d for %v", rec.Code, err)
		}
		for _, leak := range []string{"10.1.2.3", "password", "pq:", "loading order"} {
			if strings.Contains(rec.Body.String(), leak) {
				t.Fatalf("body leaks %q: %s", leak, rec.Body)
			}
		}
	}
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil), errors.New(secret))
	if p := problemBody(t, rec); p["detail"] != "internal error" || p["code"] != errs.ReasonInternal || p["title"] != "Internal" {
		t.Fatalf("unclassified error problem = %v", p)
	}
}

func TestWriteProblemRetryAfterAndChallenge(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil), errs.New(errs.Unavailable, errs.ReasonUnavailable, "busy"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != defaultRetryAfter {
		t.Fatalf("status %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}

	rec = httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil),
		errs.New(errs.Unavailable, errs.ReasonUnavailable, "busy").With(MetaRetryAfter, "7"))
	if got := rec.Header().Get("Retry-After"); got != "7" {
		t.Fatalf("Retry-After = %q, want 7", got)
	}

	rec = httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil),
		errs.New(errs.Unavailable, errs.ReasonUnavailable, "busy").With(MetaRetryAfter, 12))
	if got := rec.Header().Get("Retry-After"); got != "12" {
		t.Fatalf("Retry-After from an integer = %q, want 12", got)
	}
	for _, bad := range []any{-1, "soon", 1.5} {
		rec = httptest.NewRecorder()
		WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil),
			errs.New(errs.Unavailable, errs.ReasonUnavailable, "busy").With(MetaRetryAfter, bad))
		if got := rec.Header().Get("Retry-After"); got != defaultRetryAfter {
			t.Fatalf("Retry-After from %#v = %q, want the default", bad, got)
		}
	}

	rec = httptest.NewRecorder()
	rec.Header().Set("Retry-After", "30")
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil), errs.New(errs.Unavailable, errs.ReasonUnavailable, "busy"))
	if got := rec.Header().Get("Retry-After"); got != "30" {
		t.Fatalf("a Retry-After set upstream was replaced: %q", got)
	}

	rec = httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil), errs.New(errs.NotFound, "X", "x"))
	if rec.Header().Get("Retry-After") != "" || rec.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("unexpected headers on 404: %v", rec.Header())
	}

	rec = httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil), errs.New(errs.Unauthenticated, errs.ReasonUnauth, "login"))
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("401 without challenge: %d %v", rec.Code, rec.Header())
	}
}

func TestWriteProblemStatusOverrideAndTraceID(t *testing.T) {
	tracer, err := zipkin.NewTracer(reporter.NewNoopReporter())
	if err != nil {
		t.Fatal(err)
	}
	span := tracer.StartSpan("test")
	defer span.Finish()
	r := httptest.NewRequest(http.MethodPost, "/api/v1/orders", nil)
	r = r.WithContext(zipkin.NewContext(r.Context(), span))

	rec := httptest.NewRecorder()
	WriteProblem(rec, r, errs.New(errs.FailedPrecondition, "PAYMENT_DECLINED", "card declined").WithStatus(http.StatusPaymentRequired))
	p := problemBody(t, rec)
	if rec.Code != 402 || p["status"] != 402.0 {
		t.Fatalf("status %d body %v", rec.Code, p)
	}
	tid, _ := p["trace_id"].(string)
	if len(tid) != 32 || !strings.HasSuffix(tid, span.Context().TraceID.String()) {
		t.Fatalf("trace_id = %q, span trace %s", tid, span.Context().TraceID)
	}
}

func TestProblemExtensionsAndZeroStatus(t *testing.T) {
	p := NewProblem(t.Context(), "/api/v1/orders",
		errs.New(errs.FailedPrecondition, "PAYMENT_DECLINED", "declined").WithStatus(402))
	p.Extensions = map[string]any{"order": map[string]any{"id": "o1", "status": "CANCELLED"}, "detail": "forged"}
	rec := httptest.NewRecorder()
	p.Write(rec)
	body := problemBody(t, rec)
	ord, _ := body["order"].(map[string]any)
	if ord["status"] != "CANCELLED" || body["detail"] != "declined" {
		t.Fatalf("body = %v", body)
	}

	rec = httptest.NewRecorder()
	(&Problem{Title: "oops"}).Write(rec)
	if rec.Code != 500 {
		t.Fatalf("a problem without status answered %d", rec.Code)
	}

	rec = httptest.NewRecorder()
	(&Problem{Status: 400, Extensions: map[string]any{"bad": func() {}}}).Write(rec)
	if b := problemBody(t, rec); b["status"] != 400.0 {
		t.Fatalf("unmarshalable extension broke the document: %s", rec.Body)
	}
}

func TestWriteProblemDoesNotEscapeHTML(t *testing.T) {
	var v errs.Validation
	v.Add("stock", "must be >= 0 & < 2^31")
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodPost, "/x", nil), v.Err())
	if body := rec.Body.String(); !strings.Contains(body, `"message":"must be >= 0 & < 2^31"`) || strings.Contains(body, `\u00`) {
		t.Fatalf("body escapes HTML: %s", body)
	}

	rec = httptest.NewRecorder()
	WriteJSON(rec, http.StatusOK, map[string]string{"name": "Tom & Jerry <3>"})
	if body := rec.Body.String(); body != `{"name":"Tom & Jerry <3>"}`+"\n" {
		t.Fatalf("WriteJSON body = %q", body)
	}
}

func TestTitleAndType(t *testing.T) {
	if got := Title("", 404); got != "Not Found" {
		t.Errorf("Title empty = %q", got)
	}
	for reason, want := range map[string]string{
		"INSUFFICIENT_STOCK":     "Insufficient stock",
		"MALFORMED_JSON":         "Malformed JSON",
		"SKU_TAKEN":              "SKU taken",
		"INVALID_ID":             "Invalid ID",
		"JWKS_UNAVAILABLE":       "JWKS unavailable",
		"IDEMPOTENCY_KEY_REUSED": "Idempotency key reused",
		"INTERNAL":               "Internal",
		"ODD__REASON_":           "Odd reason",
		"_":                      "Conflict",
	} {
		if got := Title(reason, http.StatusConflict); got != want {
			t.Errorf("Title(%q) = %q, want %q", reason, got, want)
		}
	}
	if got := ProblemType(""); got != "about:blank" {
		t.Errorf("ProblemType empty = %q", got)
	}
	if got := ProblemType("EMAIL_TAKEN"); got != "/problems/email-taken" {
		t.Errorf("ProblemType = %q", got)
	}
}
