package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
)

func TestParsePage(t *testing.T) {
	tests := []struct {
		query string
		size  int
		token string
		bad   bool
	}{
		{"", DefaultPageSize, "", false},
		{"page_size=0", DefaultPageSize, "", false},
		{"page_size=5&page_token=abc", 5, "abc", false},
		{"page_size=100", 100, "", false},
		{"page_size=1000", MaxPageSize, "", false},
		{"page_size=-1", 0, "", true},
		{"page_size=ten", 0, "", true},
		{"page_size=1.5", 0, "", true},
	}
	for _, tt := range tests {
		got, err := ParsePage(httptest.NewRequest(http.MethodGet, "/x?"+tt.query, nil))
		if tt.bad {
			e := asError(t, err, 400, errs.ReasonValidation)
			if len(e.Fields) != 1 || e.Fields[0].Field != "page_size" {
				t.Errorf("%q: fields %+v", tt.query, e.Fields)
			}
			continue
		}
		if err != nil || got.Size != tt.size || got.Token != tt.token {
			t.Errorf("%q: got %+v, %v", tt.query, got, err)
		}
	}
}

func TestPageTokenRoundTrip(t *testing.T) {
	type cursor struct {
		CreatedAt string `json:"c"`
		ID        string `json:"i"`
	}
	in := cursor{CreatedAt: "2024-01-02T03:04:05Z", ID: "o1"}
	tok, err := EncodePageToken(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodePageToken[cursor](tok)
	if err != nil || out != in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	for _, bad := range []string{"!!!", "bm90IGpzb24"} { // not base64; base64 of "not json"
		_, err := DecodePageToken[cursor](bad)
		e := asError(t, err, 400, ReasonInvalidPageToken)
		if len(e.Fields) != 1 || e.Fields[0].Field != "page_token" {
			t.Errorf("%q: fields %+v", bad, e.Fields)
		}
	}
}
