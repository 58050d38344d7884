package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestEachRouteGetsItsDeadline(t *testing.T) {
	tt := timeouts{read: 5 * time.Second, write: 10 * time.Second, checkout: 30 * time.Second}
	for _, c := range []struct {
		method, path string
		want         time.Duration
	}{
		{"GET", "/api/v1/products/x", 5 * time.Second},
		{"HEAD", "/api/v1/products", 5 * time.Second},
		{"POST", "/api/v1/orders", 30 * time.Second},
		{"POST", "/api/v1/orders/x/cancel", 10 * time.Second},
		{"PATCH", "/api/v1/users/me", 10 * time.Second},
		{"POST", "/api/v1/auth/login", 10 * time.Second},
	} {
		var left time.Duration
		h := tt.middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			d, ok := r.Context().Deadline()
			if !ok {
				t.Fatalf("%s %s: no deadline", c.method, c.path)
			}
			left = time.Until(d)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(c.method, c.path, nil))
		if left > c.want || left < c.want-time.Second {
			t.Fatalf("%s %s: deadline in %v, want %v", c.method, c.path, left, c.want)
		}
	}
}
