package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
)

func TestParsePage(t *testing.T) {
	tests := []struct {
		query string
		size  int
		token string
		bad   bool
	}{
		{"", page.DefaultSize, "", false},
		{"page_size=0", page.DefaultSize, "", false},
		{"page_size=5&page_token=abc", 5, "abc", false},
		{"page_size=100", 100, "", false},
		{"page_size=1000", page.MaxSize, "", false},
		{"page_size=-1", 0, "", true},
		{"page_size=ten", 0, "", true},
		{"page_size=1.5", 0, "", true},
		{"page_size=99999999999999999999", 0, "", true},
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
