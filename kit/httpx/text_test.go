package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/netx"
	"github.com/kitshop/kitshop/kit/typed"
)

type named struct {
	Name string `json:"name"`
}

type textBody struct {
	Email string            `json:"email"`
	Items []named           `json:"items"`
	Desc  string            `json:"description"`
	Tags  map[string]string `json:"tags"`
	Any   any               `json:"any"`
}

// TestDecodeJSONRefusesControlCharacters: a NUL byte used to reach
// Postgres, which refuses it, and came back as a 500.
func TestDecodeJSONRefusesControlCharacters(t *testing.T) {
	for _, c := range []struct{ name, body, field, msg string }{
		{"NUL in a top-level string", `{"email":"ad\u0000min@example.com"}`, "email", netx.MsgControlCharacter},
		{"NUL deep in an array", `{"items":[{"name":"ok"},{"name":"a\u0000"}]}`, "items[1].name", netx.MsgControlCharacter},
		{"backspace escape", `{"description":"a\bb"}`, "description", netx.MsgControlCharacter},
		{"form feed escape", `{"description":"a\fb"}`, "description", netx.MsgControlCharacter},
		{"escape character", `{"description":"\u001b[31m"}`, "description", netx.MsgControlCharacter},
		{"raw DEL", "{\"email\":\"a\x7fb\"}", "email", netx.MsgControlCharacter},
		{"escaped DEL", `{"email":"a\u007fb"}`, "email", netx.MsgControlCharacter},
		{"raw C1", "{\"email\":\"a\u0085b\"}", "email", netx.MsgControlCharacter},
		{"escaped C1", `{"email":"a\u009bb"}`, "email", netx.MsgControlCharacter},
		{"map value", `{"tags":{"colour":"bl\u0000ue"}}`, "tags.colour", netx.MsgControlCharacter},
		{"map key", `{"tags":{"col\u0000our":"blue"}}`, "tags.col\x00our", "member name " + netx.MsgControlCharacter},
		{"inside an untyped value", `{"any":{"deep":["\u0007"]}}`, "any.deep[0]", netx.MsgControlCharacter},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeJSON[textBody](jsonRequest(c.body, "application/json"))
			e := asError(t, err, http.StatusBadRequest, errs.ReasonValidation)
			if len(e.Fields) != 1 || e.Fields[0].Field != c.field || e.Fields[0].Message != c.msg {
				t.Fatalf("fields = %+v, want %s: %s", e.Fields, c.field, c.msg)
			}
		})
	}
}

func TestDecodeJSONKeepsFreeTextAndUnicode(t *testing.T) {
	body := `{"description":"line one\r\n\tline two \u00e9 \u2014 \ud83c\udf75 \\u0000 is text","email":"zoë@example.com"}`
	got, err := DecodeJSON[textBody](jsonRequest(body, "application/json"))
	if err != nil {
		t.Fatalf("DecodeJSON: %v", err)
	}
	if want := "line one\r\n\tline two é — 🍵 \\u0000 is text"; got.Desc != want {
		t.Fatalf("description = %q, want %q", got.Desc, want)
	}
}

func TestMayHoldControlsSkipsPlainBodies(t *testing.T) {
	for _, b := range []string{`{"name":"Blue mug","note":"a \"quoted\" \\ word"}`, `{"path":"C:\\new"}`} {
		if mayHoldControls([]byte(b)) {
			t.Errorf("%s: needlessly tokenized", b)
		}
	}
	for _, b := range []string{`{"a":"\u0000"}`, `{"a":"\\\b"}`, "{\"a\":\"\x7f\"}"} {
		if !mayHoldControls([]byte(b)) {
			t.Errorf("%s: not suspected", b)
		}
	}
}

func echoID() http.Handler {
	e := typed.Endpoint(func(_ context.Context, id string) (named, error) { return named{Name: id}, nil })
	r := NewRouter()
	r.Handle("/things/{id}", Handler[string, named](e, func(_ context.Context, r *http.Request) (string, error) {
		return strings.TrimSpace(r.URL.Query().Get("q") + r.URL.Path), nil
	}, http.StatusOK)).Methods(http.MethodGet)
	r.HandleFunc("/plain", ok).Methods(http.MethodGet)
	return r
}

func TestPathVariablesAndQueryRefuseControlCharacters(t *testing.T) {
	for _, c := range []struct{ name, target, field string }{
		{"NUL in a path variable", "/things/ab%00cd", "id"},
		{"newline in a path variable", "/things/ab%0Acd", "id"},
		{"invalid UTF-8 in a path variable", "/things/%FF", "id"},
		{"NUL in a query parameter", "/things/1?q=a%00b", "q"},
		{"C1 in a query parameter", "/things/1?q=%C2%85", "q"},
		{"NUL in a query name", "/things/1?a%00b=1", "(query)"},
		{"query of a route outside Handler", "/plain?q=%01", "q"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			echoID().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.target, nil))
			p := problemBody(t, rec)
			if rec.Code != 400 || p["code"] != errs.ReasonValidation {
				t.Fatalf("%d %v", rec.Code, p)
			}
			fields, _ := p["errors"].([]any)
			if len(fields) != 1 || fields[0].(map[string]any)["field"] != c.field {
				t.Fatalf("errors = %v, want one naming %q", p["errors"], c.field)
			}
		})
	}
	rec := httptest.NewRecorder()
	echoID().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/things/caf%C3%A9?q=th%C3%A9+vert&x=1", nil))
	if rec.Code != 200 {
		t.Fatalf("plain unicode refused: %d %s", rec.Code, rec.Body)
	}
}

func TestMalformedQueryIsAProblem(t *testing.T) {
	for _, target := range []string{"/things/1?q=%zz", "/things/1?a=1;b=2", "/plain?q=%"} {
		rec := httptest.NewRecorder()
		echoID().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if p := problemBody(t, rec); rec.Code != 400 || p["code"] != ReasonMalformedQuery {
			t.Errorf("%s: %d %v", target, rec.Code, p)
		}
	}
}

func TestCheckQueryDoesNotAllocateForPlainQueries(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/products?q=mug&category=kitchen&page_size=20&min_price_cents=100", nil)
	if n := testing.AllocsPerRun(100, func() { _ = CheckQuery(r) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
