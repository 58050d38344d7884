package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/users/client"
)

// TestContract runs users/client's contract table against a real users
// HTTP port: kit/boot's middleware (request ids, tracing, metrics,
// recovery, platform routes), the JWT verifier, the REST mapping
// over the in-process pb server, the endpoint chain, the service and the
// memory store, wired as main.go wires them. The gateway runs the same
// table through itself.
func TestContract(t *testing.T) {
	kittest.CheckGoroutines(t)
	const adminEmail, adminPassword = "root@example.com", "correct horse"
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(newMemoryStore(), key, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnsureAdmin(context.Background(), adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	p, err := boot.New(config.Service{
		Name: "users", HTTPAddr: "127.0.0.1:0", LogLevel: "warn",
		BreakerFailures: 5, BreakerOpenTimeout: time.Minute, AdvertiseHost: "127.0.0.1",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	verifier := auth.NewVerifier(auth.StaticKeys(pub))
	// p.Handler is the HTTP stack p.Run serves; httptest serves it on a
	// loopback port of its own, which spares the test p.Run's signal
	// handling.
	srv := httptest.NewServer(p.Handler(NewHTTPHandler(MakeEndpoints(svc, p.Chain), svc.JWKS(), verifier)))
	t.Cleanup(srv.Close)

	client.RunContract(t, srv.URL, adminEmail, adminPassword)
}
