package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type item struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

type order struct {
	Items []item `json:"items"`
	Note  string `json:"note"`
}

func jsonRequest(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/orders", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecodeJSONAcceptsJSONWithCharset(t *testing.T) {
	got, err := DecodeJSON[order](jsonRequest(`{"items":[{"product_id":"p1","quantity":2}],"note":"hi"}`+"\n", "application/json; charset=utf-8"))
	if err != nil {
		t.Fatalf("DecodeJSON: %v", err)
	}
	if len(got.Items) != 1 || got.Items[0].Quantity != 2 || got.Note != "hi" {
		t.Fatalf("decoded %+v", got)
	}
}

func TestDecodeJSONRejections(t *testing.T) {
	tests := []struct {
		name, body, ct string
		status         int
		reason         string
		detail         string // substring of the message
		field          string // expected field violation, if any
	}{
		{"no content type", `{}`, "", 415, ReasonUnsupportedMediaType, "application/json", ""},
		{"text/plain", `{}`, "text/plain", 415, ReasonUnsupportedMediaType, "text/plain", ""},
		{"json suffix is not json", `{}`, "application/merge-patch+json", 415, ReasonUnsupportedMediaType, "", ""},
		{"bad media type", `{}`, "application/json; =", 415, ReasonUnsupportedMediaType, "", ""},
		{"empty body", ``, "application/json", 400, ReasonMalformedJSON, "empty", ""},
		{"syntax error offset", `{"note": x}`, "application/json", 400, ReasonMalformedJSON, "offset 9", ""},
		{"only whitespace", " \n\t", "application/json", 400, ReasonMalformedJSON, "empty", ""},
		{"invalid UTF-8", "{\"note\":\"\xff\"}", "application/json", 400, ReasonMalformedJSON, "UTF-8", ""},
		{"truncated", `{"note": "x"`, "application/json", 400, ReasonMalformedJSON, "middle", ""},
		{"wrong type", `{"items":[{"quantity":"two"}]}`, "application/json", 400, ReasonMalformedJSON, "must be an integer, got JSON string", "items[0].quantity"},
		{"fraction for an integer", `{"items":[{},{"quantity":1.5}]}`, "application/json", 400, ReasonMalformedJSON, "must be an integer, got JSON number 1.5", "items[1].quantity"},
		{"integer out of range", `{"items":[{"quantity":99999999999999999999}]}`, "application/json", 400, ReasonMalformedJSON, "out of range", "items[0].quantity"},
		{"array for the body", `[]`, "application/json", 400, ReasonMalformedJSON, "must be an object, got JSON array", "(body)"},
		{"object for a string", `{"note":{}}`, "application/json", 400, ReasonMalformedJSON, "must be a string, got JSON object", "note"},
		{"unknown field", `{"note":"a","notes":"b"}`, "application/json", 400, ReasonUnknownField, `"notes"`, "notes"},
		{"unknown field in an array", `{"items":[{"product_id":"p1","qty":1}]}`, "application/json", 400, ReasonUnknownField, `"items[0].qty"`, "items[0].qty"},
		// encoding/json v1 matched names case-insensitively, so "NOTE"
		// used to set note: members must match exactly.
		{"wrong case", `{"NOTE":"a"}`, "application/json", 400, ReasonUnknownField, `"NOTE"`, "NOTE"},
		{"wrong case after the right one", `{"note":"a","Note":"b"}`, "application/json", 400, ReasonUnknownField, `"Note"`, "Note"},
		{"wrong case nested", `{"items":[{"Product_ID":"p1"}]}`, "application/json", 400, ReasonUnknownField, `"items[0].Product_ID"`, "items[0].Product_ID"},
		// A duplicate would be read differently by different parsers
		// (v1 kept the last one); it is refused instead.
		{"duplicate member", `{"note":"a","note":"b"}`, "application/json", 400, ReasonMalformedJSON, `duplicate member "note"`, "note"},
		{"duplicate member nested", `{"items":[{"quantity":1,"quantity":9}]}`, "application/json", 400, ReasonMalformedJSON, "duplicate member", "items[0].quantity"},
		{"trailing object", `{"note":"a"}{"note":"b"}`, "application/json", 400, ReasonMalformedJSON, "after the JSON value", ""},
		{"trailing garbage", `{"note":"a"} xyz`, "application/json", 400, ReasonMalformedJSON, "after the JSON value", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeJSON[order](jsonRequest(tt.body, tt.ct))
			e := asError(t, err, tt.status, tt.reason)
			if !strings.Contains(e.Message, tt.detail) {
				t.Errorf("message %q does not contain %q", e.Message, tt.detail)
			}
			if tt.field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != tt.field) {
				t.Errorf("fields = %+v, want one violation of %q", e.Fields, tt.field)
			}
		})
	}
}

func TestDecodeJSONBodyTooLarge(t *testing.T) {
	big := `{"note":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	t.Run("declared length", func(t *testing.T) {
		_, err := DecodeJSON[order](jsonRequest(big, "application/json"))
		asError(t, err, 413, ReasonBodyTooLarge)
	})
	t.Run("unknown length", func(t *testing.T) {
		r := jsonRequest("", "application/json")
		// A chunked body declares no length; only reading finds the excess.
		r.Body = io.NopCloser(strings.NewReader(big))
		r.ContentLength = -1
		_, err := DecodeJSON[order](r)
		asError(t, err, 413, ReasonBodyTooLarge)
	})
	t.Run("excess after the value", func(t *testing.T) {
		r := jsonRequest("", "application/json")
		r.Body = io.NopCloser(strings.NewReader(`{"note":"a"}` + strings.Repeat(" ", MaxBodyBytes)))
		r.ContentLength = -1
		_, err := DecodeJSON[order](r)
		asError(t, err, 413, ReasonBodyTooLarge)
	})
	t.Run("exactly the limit is fine", func(t *testing.T) {
		pad := MaxBodyBytes - len(`{"note":""}`)
		_, err := DecodeJSON[order](jsonRequest(`{"note":"`+strings.Repeat("a", pad)+`"}`, "application/json"))
		if err != nil {
			t.Fatalf("DecodeJSON at exactly MaxBodyBytes: %v", err)
		}
	})
}

func TestJSONBodyAdapter(t *testing.T) {
	dec := JSONBody[order]()
	got, err := dec(t.Context(), jsonRequest(`{"note":"x"}`, "application/json"))
	if err != nil || got.Note != "x" {
		t.Fatalf("JSONBody = %+v, %v", got, err)
	}
}
