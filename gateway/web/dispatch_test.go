package web

import (
	"net/http/httptest"
	"testing"
)

func TestForAPI(t *testing.T) {
	for _, c := range []struct {
		path, authorization, accept string
		want                        bool
	}{
		{"/api/v1/products", "", "", true},
		{"//api/v1/products", "", "", true},
		{"/", "Bearer x", "", true},
		{"/admin", "", "application/json", true},
		{"/", "", "application/problem+json", true},
		{"/", "", "", false},
		{"/", "", "*/*", false},
		{"/products/x", "", "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8", false},
		{"/apiary", "", "", false},
		{"/console", "", "text/html", false},
	} {
		r := httptest.NewRequest("GET", "http://shop"+c.path, nil)
		if c.authorization != "" {
			r.Header.Set("Authorization", c.authorization)
		}
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		if got := ForAPI(r); got != c.want {
			t.Errorf("%s (Authorization %q, Accept %q): %v, want %v", c.path, c.authorization, c.accept, got, c.want)
		}
	}
}
