package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

// BenchmarkGetUser compares GetUser served through everything a real
// users process puts in front of it (kit/boot's gRPC server: tracing stats
// handler, request ids, recovery, error conversion, JWT verification,
// health; the endpoint chain: tracing, JSON logging, metrics, breaker;
// the service's authorization and the memory store) with a bare grpc-go
// server returning the same message, over real loopback connections in
// the same run.
func BenchmarkGetUser(b *testing.B) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	store := newMemoryStore()
	svc, err := NewService(store, key, Options{BcryptCost: bcrypt.MinCost})
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
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+session.AccessToken)
	req := &usersv1.GetUserRequest{Id: u.ID}

	b.Run("kitshop", func(b *testing.B) {
		cfg := config.Service{Name: "users", HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", LogLevel: "info",
			TraceSampleRate: 1, BreakerFailures: 5, BreakerOpenTimeout: 60e9, AdvertiseHost: "127.0.0.1"}
		p, err := boot.New(cfg, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		verifier := auth.NewVerifier(auth.StaticKeys(pub))
		srv := p.GRPCServer(verifier.GRPCServerOptions()...)
		usersv1.RegisterUsersServiceServer(srv, NewGRPCServer(MakeEndpoints(svc, p.Chain)))
		p.Ready.SetReady(true)
		benchGetUser(b, srv, callCtx, req)
	})
	b.Run("bare-grpc", func(b *testing.B) {
		srv := grpc.NewServer()
		usersv1.RegisterUsersServiceServer(srv, bareUsers{user: userToPB(u)})
		benchGetUser(b, srv, callCtx, req)
	})
}

// bareUsers answers GetUser with a fixed message: the floor any
// implementation pays for gRPC itself.
type bareUsers struct {
	usersv1.UnimplementedUsersServiceServer
	user *usersv1.User
}

func (s bareUsers) GetUser(context.Context, *usersv1.GetUserRequest) (*usersv1.User, error) {
	return s.user, nil
}

func benchGetUser(b *testing.B, srv *grpc.Server, ctx context.Context, req *usersv1.GetUserRequest) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := usersv1.NewUsersServiceClient(conn)
	if _, err := client.GetUser(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	// 16 callers per core keep both cores busy, so ns/op measures the
	// server's throughput rather than one call's latency.
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.GetUser(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
