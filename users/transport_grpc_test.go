package main

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

// newGRPCClient serves the users service on a real loopback listener and
// returns a plain grpc-go client (no kitshop interceptors), as a third
// party built from the pb stubs would use.
func newGRPCClient(t *testing.T, f *fixture) usersv1.UsersServiceClient {
	t.Helper()
	ready := health.New()
	srv := grpcx.NewServer(grpcx.ServerConfig{Service: "users", Readiness: ready}, f.verifier.GRPCServerOptions()...)
	usersv1.RegisterUsersServiceServer(srv, NewGRPCServer(MakeEndpoints(f.svc, mw.Chain{Service: "users"})))
	ready.SetReady(true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return usersv1.NewUsersServiceClient(conn)
}

func withToken(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func TestGRPCUsers(t *testing.T) {
	f := newFixture(t)
	c := newGRPCClient(t, f)
	ctx := context.Background()

	created, err := c.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "ada@example.com", Password: "correct horse", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetId() == "" || created.GetRole() != "customer" || created.GetCreatedAt() == nil {
		t.Fatalf("created %v", created)
	}
	_, err = c.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "ada@example.com", Password: "correct horse", Name: "Ada"})
	kittest.WantStatus(t, err, codes.AlreadyExists, "EMAIL_TAKEN")

	_, err = c.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "bad", Password: "x"})
	st := kittest.WantStatus(t, err, codes.InvalidArgument, "VALIDATION_FAILED")
	if violations := kittest.FieldViolations(st); len(violations) != 3 {
		t.Fatalf("want 3 field violations, got %v", violations)
	}

	_, err = c.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: "ada@example.com", Password: "nope nope"})
	kittest.WantStatus(t, err, codes.Unauthenticated, "INVALID_CREDENTIALS")
	auth, err := c.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: "ada@example.com", Password: "correct horse"})
	if err != nil || auth.GetTokenType() != "Bearer" || auth.GetUser().GetId() != created.GetId() {
		t.Fatalf("authenticate %v, %v", auth, err)
	}

	_, err = c.GetUser(ctx, &usersv1.GetUserRequest{Id: created.GetId()})
	kittest.WantStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
	_, err = c.GetUser(withToken("garbage"), &usersv1.GetUserRequest{Id: created.GetId()})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bad token: %v", err)
	}
	got, err := c.GetUser(withToken(auth.GetAccessToken()), &usersv1.GetUserRequest{Id: created.GetId()})
	if err != nil || got.GetEmail() != "ada@example.com" {
		t.Fatalf("get %v, %v", got, err)
	}

	f.register(t, "eve@example.com")
	eve, _ := c.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: "eve@example.com", Password: "correct horse"})
	_, err = c.GetUser(withToken(eve.GetAccessToken()), &usersv1.GetUserRequest{Id: created.GetId()})
	kittest.WantStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")

	name := "Ada L"
	updated, err := c.UpdateUser(withToken(auth.GetAccessToken()), &usersv1.UpdateUserRequest{Name: &name})
	if err != nil || updated.GetName() != name {
		t.Fatalf("update %v, %v", updated, err)
	}

	v, err := c.ValidateUser(ctx, &usersv1.ValidateUserRequest{UserId: created.GetId()})
	if err != nil || v.GetUserId() != created.GetId() || v.GetRole() != "customer" {
		t.Fatalf("validate %v, %v", v, err)
	}
	_, err = c.ValidateUser(ctx, &usersv1.ValidateUserRequest{UserId: "1b4e28ba-2fa1-11d2-883f-0016d3cca427"})
	kittest.WantStatus(t, err, codes.NotFound, "USER_NOT_FOUND")
}
