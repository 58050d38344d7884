package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot/boottest"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/tlsx"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	"github.com/kitshop/kitshop/users/client"
)

// BenchmarkGetUser compares GetUser through the whole kitshop chain with a
// bare grpc-go server returning the same message, over real loopback
// connections, back to back in the same run (the VM is noisy: compare the
// pair of one run, never figures of different runs).
//
//   - kitshop: a users process built as main builds it (kit/boot's gRPC
//     server with every interceptor: error conversion, request ids,
//     outcome reporting, deadlines, the control-character walk, recovery,
//     the allow-list, JWT verification, the tracing and failure-reporting
//     stats handlers; the endpoint chain: tracing, logging, metrics, load
//     shedding; the service and the memory store), called the way another
//     kitshop process calls it: users/client over the sd.BackendConfig
//     that kit/boot.Process.Backend makes (go-kit endpointer over a fixed
//     instancer, round robin, breaker, retry policy and budget, client
//     tracing and metrics, the token forwarded from ctx).
//   - bare-grpc: grpc.NewServer returning a fixed message, called with the
//     plain generated client, sending the same metadata (token, request
//     id).
//
// The -mtls variants run both over mutual TLS (the dev CA), so the cost of
// TLS shows apart from the chain's. 32 concurrent callers (16 per core)
// keep both cores busy, so ns/op is the inverse of throughput, not one
// call's latency; req/s is reported too. For a ratio, run the pair
// several times with -count=1 each (-count=n runs one side n times
// before the other) and take the median of the per-run ratios:
//
//	go test -run '^$' -bench 'GetUser/(kitshop|bare-grpc)$' -benchtime 2s ./users
func BenchmarkGetUser(b *testing.B) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := NewService(newMemoryStore(), key, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	u, err := svc.Register(ctx, NewUser{Email: "bench@example.com", Password: "correct horse", Name: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	session, err := svc.Login(ctx, u.Email, "correct horse")
	if err != nil {
		b.Fatal(err)
	}
	req := &usersv1.GetUserRequest{Id: u.ID}
	files, err := tlsx.WriteDevFiles(b.TempDir(), client.Service, benchCaller)
	if err != nil {
		b.Fatal(err)
	}

	// The caller's context as the gateway hands it to the client: the
	// user's token (forwarded as metadata) and the request id.
	callerCtx := auth.WithToken(logx.WithRequestID(ctx, benchRequestID), session.AccessToken)
	// The same metadata, spelled out for the plain client.
	bareCtx := metadata.AppendToOutgoingContext(ctx,
		"authorization", "Bearer "+session.AccessToken, grpcx.RequestIDMetadata, benchRequestID)

	for _, mtls := range []bool{false, true} {
		suffix, serverFiles, callerFiles := "", tlsx.Files{}, tlsx.Files{}
		if mtls {
			suffix, serverFiles, callerFiles = "-mtls", files[client.Service], files[benchCaller]
		}
		b.Run("kitshop"+suffix, func(b *testing.B) {
			addr := startUsersProcess(b, svc, pub, serverFiles)
			c := newUsersCaller(b, addr, callerFiles)
			kittest.BenchCalls(b, func() error {
				_, err := c.GetUser(callerCtx, req)
				return err
			})
		})
		b.Run("bare-grpc"+suffix, func(b *testing.B) {
			c := plainClient(b, startBareUsers(b, userToPB(u), serverFiles), callerFiles)
			kittest.BenchCalls(b, func() error {
				_, err := c.GetUser(bareCtx, req)
				return err
			})
		})
		b.Run("server-chain"+suffix, func(b *testing.B) {
			c := plainClient(b, startUsersProcess(b, svc, pub, serverFiles), callerFiles)
			kittest.BenchCalls(b, func() error {
				_, err := c.GetUser(bareCtx, req)
				return err
			})
		})
	}
}

// TestGetUserBenchmarkWiring makes one call through each side of
// BenchmarkGetUser, plaintext and mTLS, so a change that breaks the
// benchmark's wiring fails `make test`, which runs no benchmark.
func TestGetUserBenchmarkWiring(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(newMemoryStore(), key, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, err := svc.Register(ctx, NewUser{Email: "wiring@example.com", Password: "correct horse", Name: "Wiring"})
	if err != nil {
		t.Fatal(err)
	}
	session, err := svc.Login(ctx, u.Email, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	files, err := tlsx.WriteDevFiles(t.TempDir(), client.Service, benchCaller)
	if err != nil {
		t.Fatal(err)
	}
	req := &usersv1.GetUserRequest{Id: u.ID}
	for _, mtls := range []bool{false, true} {
		serverFiles, callerFiles := tlsx.Files{}, tlsx.Files{}
		if mtls {
			serverFiles, callerFiles = files[client.Service], files[benchCaller]
		}
		c := newUsersCaller(t, startUsersProcess(t, svc, pub, serverFiles), callerFiles)
		got, err := c.GetUser(auth.WithToken(ctx, session.AccessToken), req)
		if err != nil || got.GetEmail() != u.Email {
			t.Fatalf("mTLS %v: kitshop GetUser = %v, %v", mtls, got, err)
		}
		bare := plainClient(t, startBareUsers(t, userToPB(u), serverFiles), callerFiles)
		if got, err := bare.GetUser(ctx, req); err != nil || got.GetEmail() != u.Email {
			t.Fatalf("mTLS %v: bare GetUser = %v, %v", mtls, got, err)
		}
	}
}

// benchCaller is the calling process's identity; benchRequestID the
// request id every call carries.
const (
	benchCaller    = "gateway"
	benchRequestID = "bench-request-0123456789"
)

// bareUsers answers GetUser with a fixed message: the floor any
// implementation pays for gRPC itself.
type bareUsers struct {
	usersv1.UnimplementedUsersServiceServer
	user *usersv1.User
}

func (s bareUsers) GetUser(context.Context, *usersv1.GetUserRequest) (*usersv1.User, error) {
	return s.user, nil
}

// startUsersProcess runs a users process wired exactly as main wires it,
// on svc, until the benchmark ends, and returns its gRPC address.
func startUsersProcess(b testing.TB, svc Service, pub ed25519.PublicKey, files tlsx.Files) string {
	b.Helper()
	p := boottest.Process(b, client.Service, true, files)
	verifier := auth.NewVerifier(auth.StaticKeys(pub))
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(append(p.AllowCallers(internalMethods), verifier.GRPCServerOptions()...)...)
	usersv1.RegisterUsersServiceServer(grpcSrv, NewGRPCServer(endpoints))
	return boottest.Serve(b, p, NewHTTPHandler(endpoints, svc.JWKS(), verifier), grpcSrv)
}

// newUsersCaller is users/client as another kitshop process builds it:
// kit/boot's Backend configuration, pointed at addr.
func newUsersCaller(b testing.TB, addr string, files tlsx.Files) client.Client {
	b.Helper()
	c, err := client.New(boottest.Backend(b, benchCaller, client.Service, addr, files))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// startBareUsers serves bareUsers with a plain grpc.NewServer (under mTLS when
// files are set) until the benchmark ends and returns its address.
func startBareUsers(b testing.TB, user *usersv1.User, files tlsx.Files) string {
	return kittest.BareServer(b, files, func(srv *grpc.Server) { usersv1.RegisterUsersServiceServer(srv, bareUsers{user: user}) })
}

// plainClient is the generated client over a plain connection to addr
// (under mTLS, as the caller, when files are set).
func plainClient(b testing.TB, addr string, files tlsx.Files) usersv1.UsersServiceClient {
	return usersv1.NewUsersServiceClient(kittest.PlainConn(b, addr, files, client.Service))
}
