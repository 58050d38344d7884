package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/mw"
)

// BenchmarkHTTP measures products HTTP requests served in-process behind
// the JWT middleware, with a bare endpoint chain and the memory store, so
// that the number is the transport's own work. Run with -count: the VM
// is noisy.
func BenchmarkHTTP(b *testing.B) {
	f := newFixture(b, newMemoryStore(), Options{})
	for i := range 30 {
		f.create(b, fmt.Sprintf("BENCH-%d", i), 1000)
	}
	p := f.create(b, "BENCH-P", 1000)
	iss := newIssuer(b)
	admin := iss.token(b, auth.RoleAdmin)
	endpoints := MakeEndpoints(f.svc, mw.Chain{Service: "products"})
	_ = context.Background
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"mapping", NewHTTPHandler(endpoints, iss.verifier)},
	}
	requests := []struct {
		name, method, path, body string
	}{
		{"GetProduct", http.MethodGet, "/api/v1/products/" + p.ID, ""},
		{"Search", http.MethodGet, "/api/v1/products?category=misc&page_size=20&min_price_cents=100", ""},
		{"Patch", http.MethodPatch, "/api/v1/products/" + p.ID, `{"name":"Bench product","price_cents":700}`},
		{"AdjustStock", http.MethodPost, "/api/v1/products/" + p.ID + "/stock", `{"delta":1}`},
	}
	for _, rq := range requests {
		for _, h := range handlers {
			b.Run(rq.name+"/"+h.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
					r.Header.Set("Authorization", "Bearer "+admin)
					if rq.body != "" {
						r.Header.Set("Content-Type", "application/json")
					}
					w := httptest.NewRecorder()
					h.h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}
