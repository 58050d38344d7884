package tlsx_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// callTimeout bounds every call a test makes.
const callTimeout = 5 * time.Second

// internalOnlyForOrders makes health's Check and Watch internal methods
// that only orders may call; List stays public.
var internalOnlyForOrders = tlsx.AllowList{
	healthpb.Health_Check_FullMethodName: {"orders"},
	healthpb.Health_Watch_FullMethodName: {"orders"},
}

type server struct {
	addr string
	// peers are the services PeerService saw on unary calls, in order.
	mu    sync.Mutex
	peers []string
}

func (s *server) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.peers...)
}

// serve runs a real gRPC server on loopback speaking TLS as id, with
// list enforced (or not), the gRPC health service behind it.
func serve(t *testing.T, id *tlsx.Identity, list tlsx.AllowList, enforce bool) *server {
	t.Helper()
	s := &server{}
	record := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		svc, _ := tlsx.PeerService(ctx)
		s.mu.Lock()
		s.peers = append(s.peers, svc)
		s.mu.Unlock()
		return h(ctx, req)
	})
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(id.ServerConfig())), record,
		list.ServerOption(enforce), list.StreamServerOption(enforce))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(l) }()
	t.Cleanup(func() { gs.Stop(); <-done })
	s.addr = l.Addr().String()
	return s
}

// client dials addr with cfg (nil: plaintext) and returns a health client.
func client(t *testing.T, addr string, cfg *tls.Config) healthpb.HealthClient {
	t.Helper()
	creds := insecure.NewCredentials()
	if cfg != nil {
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// handshakeError is how a bare TLS connection with cfg to addr fails. In
// TLS 1.3 the server checks the client's certificate after the client
// considers the handshake done, so its alert arrives on the first read.
func handshakeError(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: callTimeout}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(callTimeout))
	_, err = conn.Read(make([]byte, 1))
	return err
}

func check(c healthpb.HealthClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// watch opens a Watch stream and reads its first message.
func watch(c healthpb.HealthClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	stream, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

func list(c healthpb.HealthClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := c.List(ctx, &healthpb.HealthListRequest{})
	return err
}

type platform struct {
	ca                            *tlsx.CA
	users, orders, payments, prod *tlsx.Identity
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	ca, err := tlsx.NewCA(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{ca: ca}
	for svc, dst := range map[string]**tlsx.Identity{"users": &p.users, "orders": &p.orders, "payments": &p.payments, "products": &p.prod} {
		if *dst, err = ca.Identity(svc); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// noCertificate is a client that verifies users' certificate like a
// platform process but has no certificate of its own: anyone on the
// network who got hold of the CA certificate (it is not secret).
func noCertificate(p *platform, peer string) *tls.Config {
	cfg := p.orders.ClientConfig(peer)
	cfg.Certificates = nil
	return cfg
}

func TestAllowListOverRealTLS(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	srv := serve(t, p.users, internalOnlyForOrders, true)

	t.Run("the allowed service passes, unary and streaming", func(t *testing.T) {
		c := client(t, srv.addr, p.orders.ClientConfig("users"))
		if err := check(c); err != nil {
			t.Fatalf("orders calling Check: %v", err)
		}
		if err := watch(c); err != nil {
			t.Fatalf("orders calling Watch: %v", err)
		}
		if got := srv.seen(); len(got) == 0 || got[len(got)-1] != "orders" {
			t.Fatalf("PeerService saw %v, want orders last", got)
		}
	})

	t.Run("another platform service is denied", func(t *testing.T) {
		c := client(t, srv.addr, p.payments.ClientConfig("users"))
		st := kittest.WantStatus(t, check(c), codes.PermissionDenied, tlsx.ReasonCallerNotAllowed)
		if !strings.Contains(st.Message(), "payments") {
			t.Errorf("denial %q does not name the caller", st.Message())
		}
		kittest.WantStatus(t, watch(c), codes.PermissionDenied, tlsx.ReasonCallerNotAllowed)
		// The connection itself is fine: a public method still answers.
		if err := list(c); err != nil {
			t.Fatalf("payments calling the public List: %v", err)
		}
	})

	t.Run("a caller without a certificate is denied", func(t *testing.T) {
		c := client(t, srv.addr, noCertificate(p, "users"))
		st := kittest.WantStatus(t, check(c), codes.PermissionDenied, tlsx.ReasonCallerNotAllowed)
		if !strings.Contains(st.Message(), "unauthenticated") {
			t.Errorf("denial %q does not say the caller is unauthenticated", st.Message())
		}
		kittest.WantStatus(t, watch(c), codes.PermissionDenied, tlsx.ReasonCallerNotAllowed)
		if err := list(c); err != nil {
			t.Fatalf("public List without a certificate: %v", err)
		}
	})

	t.Run("a certificate from another CA fails the handshake", func(t *testing.T) {
		// An attacker's own CA can say "orders" but cannot sign for the
		// platform: the server verifies a given certificate against the
		// platform CA and aborts the handshake, so no method, public or
		// not, is reached. The client trusts the platform CA for the
		// server, so it is the server that refuses.
		foreign, err := tlsx.NewCA(time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		fakeOrders, err := foreign.Identity("orders")
		if err != nil {
			t.Fatal(err)
		}
		cfg := p.orders.ClientConfig("users")
		cfg.Certificates = fakeOrders.ServerConfig().Certificates
		before := len(srv.seen())
		c := client(t, srv.addr, cfg)
		for name, call := range map[string]func(healthpb.HealthClient) error{"Check": check, "List": list} {
			// gRPC reports whichever of the alert or the closed socket
			// it meets first, so the code is asserted here and the
			// alert itself on a bare connection below.
			if err := call(c); status.Code(err) != codes.Unavailable {
				t.Errorf("%s with a foreign CA's orders certificate: %v; want UNAVAILABLE", name, err)
			}
		}
		if got := srv.seen(); len(got) != before {
			t.Errorf("a call with a foreign certificate reached the server: %v", got[before:])
		}
		if err := handshakeError(srv.addr, cfg); err == nil || !strings.Contains(err.Error(), "remote error: tls: unknown certificate authority") {
			t.Errorf("TLS with a foreign CA's certificate ended in %v, want the server's unknown-CA alert", err)
		}
	})

	t.Run("plaintext does not reach the server", func(t *testing.T) {
		if err := check(client(t, srv.addr, nil)); status.Code(err) != codes.Unavailable {
			t.Fatalf("plaintext Check: %v, want UNAVAILABLE", err)
		}
	})
}

// Without TLS configured the list is not enforced (the process binds gRPC
// to loopback instead): every caller passes.
func TestAllowListNotEnforced(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	srv := serve(t, p.users, internalOnlyForOrders, false)
	c := client(t, srv.addr, noCertificate(p, "users"))
	if err := check(c); err != nil {
		t.Fatalf("Check with enforcement off: %v", err)
	}
	if err := watch(c); err != nil && err != io.EOF {
		t.Fatalf("Watch with enforcement off: %v", err)
	}
}

// A fake registration pointing a client that wants users at a products
// instance (or anything else the platform CA signed) is refused by the
// client in the handshake: an address in etcd is not an identity.
func TestClientRefusesAServerNamingAnotherService(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	impostor := serve(t, p.prod, nil, true)
	err := check(client(t, impostor.addr, p.orders.ClientConfig("users")))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), `tlsx: peer is \"products\", want \"users\"`) {
		t.Fatalf("calling users at a products instance: %v; want UNAVAILABLE naming both", err)
	}
	if got := impostor.seen(); len(got) != 0 {
		t.Fatalf("the impostor received calls from %v", got)
	}

	// A server from another CA claiming to be users is refused too.
	foreign, err := tlsx.NewCA(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fakeUsers, err := foreign.Identity("users")
	if err != nil {
		t.Fatal(err)
	}
	fake := serve(t, fakeUsers, nil, true)
	err = check(client(t, fake.addr, p.orders.ClientConfig("users")))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("calling a users certificate of another CA: %v; want UNAVAILABLE", err)
	}
}
