package main

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/payments/client"
)

// TestContract runs payments/client's contract table against a real
// payments HTTP port: kit/boot's middleware (request ids, tracing,
// metrics, recovery, platform routes), the JWT verifier, the REST mapping
// over the in-process pb server, the endpoint chain, the service and the
// memory store, wired as main.go wires them. The gateway runs the same
// table through itself.
func TestContract(t *testing.T) {
	kittest.CheckGoroutines(t)
	f := newSvcFixture(t, newMemoryStore())
	// Charge is internal (no HTTP route), so the payment is made through
	// the service, as the orders saga would make it over gRPC.
	req := chargeReq(TestCardApproved)
	pay, err := f.svc.Charge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	p, err := boot.New(config.Service{
		Name: "payments", HTTPAddr: "127.0.0.1:0", LogLevel: "warn",
		BreakerFailures: 5, BreakerOpenTimeout: time.Minute, AdvertiseHost: "127.0.0.1",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	iss := authtest.NewIssuer(t)
	// p.Handler is the HTTP stack p.Run serves; httptest serves it on a
	// loopback port of its own, which spares the test p.Run's signal
	// handling.
	srv := httptest.NewServer(p.Handler(NewHTTPHandler(MakeEndpoints(f.svc, p.Chain), iss.Verifier)))
	t.Cleanup(srv.Close)

	client.RunContract(t, srv.URL, client.ContractFixture{
		PaymentID: pay.ID, OwnerID: req.UserID,
		OwnerToken:    iss.Token(t, req.UserID, auth.RoleCustomer),
		StrangerToken: iss.Token(t, uuid.NewString(), auth.RoleCustomer),
		AdminToken:    iss.Token(t, uuid.NewString(), auth.RoleAdmin),
	})
}
