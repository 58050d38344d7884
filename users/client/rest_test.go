package client

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest"
	"github.com/kitshop/kitshop/kit/rest/resttest"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

// hiddenRequestFields are request fields that API.md deliberately gives
// no way to set over HTTP. Every entry says why; a field missing here and
// from the mapping fails TestMappingCoversTheService.
var hiddenRequestFields = map[string]string{
	// API.md has PATCH /users/me only; an empty id means the caller. An
	// admin changing someone else is gRPC-only for now.
	"kitshop.users.v1.UpdateUserRequest.id": "no PATCH /users/{id} in API.md",
}

// hiddenResponseFields are response fields never written to JSON. None
// today: User has no secret field (the password hash has no pb field).
var hiddenResponseFields = map[string]string{}

// internalMethods are UsersService methods with no HTTP route: they serve
// other kitshop services, not end users.
var internalMethods = map[string]string{
	"ValidateUser": "the checkout saga's check, for orders and the gateway",
}

// TestMappingCoversTheService: every UsersService method is routed or
// internal, and every field of the routed messages, nested ones included,
// reaches JSON or is hidden above, with its reason. A field or method
// added to users.proto therefore reaches the API with no edit or fails
// here, never silently.
func TestMappingCoversTheService(t *testing.T) {
	resttest.CheckCoverage(t, rest.Coverage{
		Service:        usersv1.File_users_v1_users_proto.Services().ByName("UsersService"),
		Routes:         Routes(&fakeAPI{}),
		HiddenRequest:  hiddenRequestFields,
		HiddenResponse: hiddenResponseFields,
		Internal:       internalMethods,
	})
}

// fakeAPI records requests and answers with fixed users.
type fakeAPI struct {
	got proto.Message
	err error
}

var ada = &usersv1.User{
	Id: "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", Email: "ada@example.com", Name: "Ada", Role: "customer",
	CreatedAt: timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)),
	UpdatedAt: timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)),
}

func (f *fakeAPI) CreateUser(_ context.Context, r *usersv1.CreateUserRequest) (*usersv1.User, error) {
	f.got = r
	return ada, f.err
}

func (f *fakeAPI) Authenticate(_ context.Context, r *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error) {
	f.got = r
	return &usersv1.AuthenticateResponse{AccessToken: "tok", TokenType: "Bearer", ExpiresIn: 3600, User: ada}, f.err
}

func (f *fakeAPI) GetUser(_ context.Context, r *usersv1.GetUserRequest) (*usersv1.User, error) {
	f.got = r
	return ada, f.err
}

func (f *fakeAPI) UpdateUser(_ context.Context, r *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	f.got = r
	return ada, f.err
}

func TestMappingShapes(t *testing.T) {
	f := &fakeAPI{}
	router := asCustomer(f)

	w := resttest.Do(t, router, "POST", "/api/v1/users", `{"email":"ada@example.com","password":"correct horse","name":"Ada","address":null}`)
	const user = `{"id":"6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f","email":"ada@example.com","name":"Ada","role":"customer",` +
		`"address":null,"created_at":"2024-05-01T12:00:00Z","updated_at":"2024-05-01T12:00:00.123456Z"}`
	if w.Code != 201 || w.Body.String() != user+"\n" || w.Header().Get("Location") != "/api/v1/users/"+ada.Id {
		t.Fatalf("create: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if want := (&usersv1.CreateUserRequest{Email: "ada@example.com", Password: "correct horse", Name: "Ada"}); !proto.Equal(f.got, want) {
		t.Fatalf("create request %v", f.got)
	}

	w = resttest.Do(t, router, "POST", "/api/v1/auth/login", `{"email":"ada@example.com","password":"correct horse"}`)
	if w.Code != 200 || w.Body.String() != `{"access_token":"tok","token_type":"Bearer","expires_in":3600,"user":`+user+"}\n" ||
		w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Pragma") != "no-cache" {
		t.Fatalf("login: %d %v %s", w.Code, w.Header(), w.Body)
	}

	for path, want := range map[string]*usersv1.GetUserRequest{
		"/api/v1/users/me":        {},
		"/api/v1/users/" + ada.Id: {Id: ada.Id},
	} {
		if w := resttest.Do(t, router, "GET", path, ""); w.Code != 200 || !proto.Equal(f.got, want) {
			t.Fatalf("GET %s: %d, request %v", path, w.Code, f.got)
		}
	}

	for body, want := range map[string]*usersv1.UpdateUserRequest{
		`{"name":"Ada L"}`: {Name: proto.String("Ada L")},
		`{"address":null}`: {ClearAddress: true},
		`{"address":{"line1":"1 Main","city":"Paris","postal_code":"75001","country":"FR"},"password":"new one","current_password":"old one"}`: {
			Address:  &commonv1.Address{Line1: "1 Main", City: "Paris", PostalCode: "75001", Country: "FR"},
			Password: proto.String("new one"), CurrentPassword: proto.String("old one"),
		},
	} {
		if w := resttest.Do(t, router, "PATCH", "/api/v1/users/me", body); w.Code != 200 || !proto.Equal(f.got, want) {
			t.Fatalf("PATCH %s: %d %s, request %v", body, w.Code, w.Body, f.got)
		}
	}
}

// TestRemoteAPI serves the mapping over a real gRPC hop, as the gateway
// will: the pb messages cross the wire, and an error's kind and reason
// survive as a gRPC status.
func TestRemoteAPI(t *testing.T) {
	f := &fakeAPI{}
	conn := resttest.ServeGRPC(t, func(srv *grpc.Server) { usersv1.RegisterUsersServiceServer(srv, remoteFake{f: f}) })
	router := asCustomer(RemoteAPI(usersv1.NewUsersServiceClient(conn)))

	w := resttest.Do(t, router, "PATCH", "/api/v1/users/me", `{"address":null}`)
	if w.Code != 200 || !proto.Equal(f.got, &usersv1.UpdateUserRequest{ClearAddress: true}) {
		t.Fatalf("%d %s, request %v", w.Code, w.Body, f.got)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["id"] != ada.Id {
		t.Fatalf("body %s: %v", w.Body, err)
	}

	f.err = errs.New(errs.AlreadyExists, ReasonEmailTaken, "email is already registered")
	w = resttest.Do(t, router, "POST", "/api/v1/users", `{"email":"ada@example.com"}`)
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 409 || body["code"] != ReasonEmailTaken {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// remoteFake serves fakeAPI over gRPC, converting errors as kitshop's
// server interceptors do.
type remoteFake struct {
	usersv1.UnimplementedUsersServiceServer
	f *fakeAPI
}

func (r remoteFake) CreateUser(ctx context.Context, req *usersv1.CreateUserRequest) (*usersv1.User, error) {
	u, err := r.f.CreateUser(ctx, req)
	return u, errs.ToGRPC(err)
}

func (r remoteFake) UpdateUser(ctx context.Context, req *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	u, err := r.f.UpdateUser(ctx, req)
	return u, errs.ToGRPC(err)
}

// asCustomer serves the mapping over api to a signed-in customer, as the
// verifier's middleware would: the routes' guards let only callers in.
func asCustomer(api API) http.Handler {
	r := httpx.NewRouter()
	RegisterHTTP(r, api)
	return resttest.AsRole(auth.RoleCustomer, "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", r)
}

// Routes about a user answer 401 to an anonymous caller without calling
// the service: behind the gateway, no backend call is spent on them.
func TestUserRoutesNeedACaller(t *testing.T) {
	f := &fakeAPI{}
	router := httpx.NewRouter()
	RegisterHTTP(router, f)
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/api/v1/users/me", ""}, {"PATCH", "/api/v1/users/me", `{"name":"x"}`}, {"GET", "/api/v1/users/" + ada.Id, ""},
	} {
		if w := resttest.Do(t, router, rt.method, rt.path, rt.body); w.Code != http.StatusUnauthorized || f.got != nil {
			t.Fatalf("%s %s anonymous: %d, service called with %v", rt.method, rt.path, w.Code, f.got)
		}
	}
}
