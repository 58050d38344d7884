package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/ratelimit"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

type fixedProducts struct {
	productsv1.UnimplementedProductsServiceServer
}

func (fixedProducts) GetProduct(_ context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
	return &productsv1.Product{Id: r.GetId(), Sku: "MUG-1", Name: "Blue mug", Description: "A ceramic coffee mug",
		Category: "kitchen", PriceCents: 1299, Currency: "USD", Stock: 5, Available: 5, Active: true}, nil
}

// BenchmarkGatewayStack measures the gateway's own work for GET
// /api/v1/products/{id}: the whole request stack main.go builds (kit/boot's
// platform middleware, limiter, shedder, verifier, deadline, the REST
// mapping, the products client in edge mode with its breaker, retries,
// client metrics and span) over a real gRPC hop to a backend that answers
// at once, so the backend's own cost is left out. The sample rate is
// the dev default (1); -benchmem and -cpuprofile show where it goes.
func BenchmarkGatewayStack(b *testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	productsv1.RegisterProductsServiceServer(srv, fixedProducts{})
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	for _, svc := range []string{"USERS", "PRODUCTS", "ORDERS", "PAYMENTS"} {
		b.Setenv("KITSHOP_"+svc+"_ADDR", lis.Addr().String())
	}
	p, err := boot.New(config.Service{
		Name: gatewayService, HTTPAddr: "127.0.0.1:0", LogLevel: "error", TraceSampleRate: 1,
		BreakerFailures: 5, BreakerOpenTimeout: time.Minute, BreakerProbes: 3, AdvertiseHost: "127.0.0.1",
	}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	bk, err := openBackends(p)
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := p.Verifier(boot.TokenFlags{})
	if err != nil {
		b.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.Config{Tiers: map[string]ratelimit.Tier{
		ratelimit.Anonymous: {Name: ratelimit.Anonymous, PerMinute: 1e9, Burst: 1e8},
	}})
	if err != nil {
		b.Fatal(err)
	}
	api, err := newHandler(bk, verifier, limiter, mw.NewShedder(0),
		timeouts{read: 5 * time.Second, write: 10 * time.Second, checkout: 30 * time.Second}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := p.Handler(api)
	get := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/products/9b1d2e3f-0a1b-4c2d-8e3f-405162738495", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := get(); w.Code != http.StatusOK {
		b.Fatalf("%d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if w := get(); w.Code != http.StatusOK {
				b.Errorf("%d %s", w.Code, w.Body)
				return
			}
		}
	})
}
