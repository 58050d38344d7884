package main

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
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
	iss := authtest.NewIssuer(t)
	// p.Handler is the HTTP stack p.Run serves; httptest serves it on a
	// loopback port of its own, which spares the test p.Run's signal
	// handling.
	srv := httptest.NewServer(p.Handler(NewHTTPHandler(MakeEndpoints(svc, p.Chain), iss.Verifier)))
	t.Cleanup(srv.Close)

	client.RunContract(t, srv.URL, iss.Token(t, uuid.NewString(), auth.RoleAdmin), iss.Token(t, uuid.NewString(), auth.RoleCustomer))
}

// TestContractThroughRemoteAPI runs the same table as the gateway will
// serve it: the mapping over client.RemoteAPI, a real gRPC hop (the
// caller's token forwarded by the connection's interceptor), and the
// products gRPC server with its interceptors. It proves that the JSON
// shapes, the statuses and reasons, and Idempotent-Replayed (a gRPC
// response header on this hop) survive the wire.
func TestContractThroughRemoteAPI(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newFixture(t, newMemoryStore(), Options{})
	iss := authtest.NewIssuer(t)
	addr := serveGRPC(t, f, iss, mw.Chain{Service: "products"}, grpcx.ServerConfig{Service: "products"})
	conn, err := grpcx.Dial(addr, grpcx.ClientConfig{}, grpc.WithChainUnaryInterceptor(auth.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	router := httpx.NewRouter()
	client.RegisterHTTP(router, client.RemoteAPI(productsv1.NewProductsServiceClient(conn)))
	srv := httptest.NewServer(iss.Verifier.Middleware(router))
	t.Cleanup(srv.Close)

	client.RunContract(t, srv.URL, iss.Token(t, uuid.NewString(), auth.RoleAdmin), iss.Token(t, uuid.NewString(), auth.RoleCustomer))
}
