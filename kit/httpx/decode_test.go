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
		{"syntax error offset", `{"note": x}`, "application/json", 400, ReasonMalformedJSON, "offset 10", ""},
		{"truncated", `{"note": "x"`, "application/json", 400, ReasonMalformedJSON, "middle", ""},
		{"wrong type", `{"items":[{"quantity":"two"}]}`, "application/json", 400, ReasonMalformedJSON, "must be an integer, got JSON string", "items.quantity"},
		{"unknown field", `{"note":"a","notes":"b"}`, "application/json", 400, ReasonUnknownField, `"notes"`, "notes"},
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
