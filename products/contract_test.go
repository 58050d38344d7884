package main

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/products/client"
)

// TestContract runs products/client's contract table against a real
// products HTTP port: kit/boot's middleware (request ids, tracing,
// metrics, recovery, platform routes), the JWT verifier, the REST mapping
// over the in-process pb server, the endpoint chain, the service and the
// memory store, wired as main.go wires them. The gateway runs the same
// table through itself.
func TestContract(t *testing.T) {
	kittest.CheckGoroutines(t)
	p, err := boot.New(config.Service{
		Name: "products", HTTPAddr: "127.0.0.1:0", LogLevel: "warn",
		BreakerFailures: 5, BreakerOpenTimeout: time.Minute, AdvertiseHost: "127.0.0.1",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	svc := NewService(newMemoryStore(), Options{Logger: p.Logger})
	iss := newIssuer(t)
	// p.Handler is the HTTP stack p.Run serves; httptest serves it on a
	// loopback port of its own, which spares the test p.Run's signal
	// handling.
	srv := httptest.NewServer(p.Handler(NewHTTPHandler(MakeEndpoints(svc, p.Chain), iss.verifier)))
	t.Cleanup(srv.Close)

	client.RunContract(t, srv.URL, iss.token(t, auth.RoleAdmin), iss.token(t, auth.RoleCustomer))
}
