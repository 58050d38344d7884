// Package client is what a caller of the users service needs besides the
// pb stubs: the service's reason codes and the REST mapping of its part of
// API.md. A service or the gateway imports this package, never users.
package client

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/rest"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

// API is the part of kitshop.users.v1.UsersService that API.md's HTTP
// routes call. The service's own pb server (a usersv1.UsersServiceServer)
// is one as it stands, so HTTP runs through the same endpoint chain as
// gRPC; RemoteAPI makes one of a gRPC client, for the gateway.
type API interface {
	CreateUser(context.Context, *usersv1.CreateUserRequest) (*usersv1.User, error)
	Authenticate(context.Context, *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error)
	GetUser(context.Context, *usersv1.GetUserRequest) (*usersv1.User, error)
	UpdateUser(context.Context, *usersv1.UpdateUserRequest) (*usersv1.User, error)
}

// RegisterHTTP serves the Users routes of API.md on router (made by
// httpx.NewRouter) with api behind them. Authentication is the caller's
// middleware's job: it puts the verified claims in the request context,
// and api reads them there (in-process) or forwards them (remote).
func RegisterHTTP(router *mux.Router, api API) {
	rest.Mount(router, Routes(api)...)
}

// Routes is the REST mapping of the Users part of API.md: the one place
// where its JSON shapes, paths and statuses are written down. Every JSON
// member is the pb field of the same name (see kit/rest for the rules), so
// a field added to a users message appears in the API with no edit here;
// the descriptor test in this package says when one cannot.
func Routes(api API) []rest.Route {
	return []rest.Route{
		rest.Unary(rest.Spec[*usersv1.CreateUserRequest, *usersv1.User]{
			Method: http.MethodPost, Path: "/api/v1/users", Call: api.CreateUser,
			Doc:    rest.Doc{Summary: "Register a customer.", Problems: []int{http.StatusConflict}},
			Body:   true,
			Status: http.StatusCreated, Location: "/api/v1/users/{id}",
		}),
		rest.Unary(rest.Spec[*usersv1.AuthenticateRequest, *usersv1.AuthenticateResponse]{
			Method: http.MethodPost, Path: "/api/v1/auth/login", Call: api.Authenticate,
			Doc:  rest.Doc{Summary: "Log in: an access token for the user.", Problems: []int{http.StatusUnauthorized, http.StatusForbidden}},
			Body: true,
			// Caches must not keep access tokens (RFC 6749, 5.1).
			ResponseHeaders: map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"},
		}),
		// Listed before /users/{id}, which "me" would match too. An empty
		// id means the caller.
		rest.Unary(rest.Spec[*usersv1.GetUserRequest, *usersv1.User]{
			Method: http.MethodGet, Path: "/api/v1/users/me", Call: api.GetUser, Guard: auth.UserGuard,
		}),
		rest.Unary(rest.Spec[*usersv1.UpdateUserRequest, *usersv1.User]{
			Method: http.MethodPatch, Path: "/api/v1/users/me", Call: api.UpdateUser,
			Guard: auth.UserGuard, Body: true,
			// id stays empty (the caller): API.md has no PATCH of another
			// user. clear_address is how "address": null travels.
			NotInBody: []string{"id", "clear_address"},
			Hook:      patchAddress,
			HookFills: []string{"clear_address"},
		}),
		rest.Unary(rest.Spec[*usersv1.GetUserRequest, *usersv1.User]{
			Method: http.MethodGet, Path: "/api/v1/users/{id}", Call: api.GetUser, UUIDs: ids, Guard: auth.UserGuard,
			Doc: rest.Doc{Summary: "A user: oneself, or anyone for an admin."},
		}),
	}
}

// patchAddress turns "address": null into clear_address; an absent
// address member keeps the address.
func patchAddress(_ *http.Request, req *usersv1.UpdateUserRequest, body rest.Members) error {
	req.ClearAddress = body.Null("address")
	return nil
}

// RemoteAPI serves API with a UsersService gRPC client, passing opts on
// every call. The caller's identity travels as the connection's
// interceptors send it (auth.UnaryClientInterceptor forwards the bearer
// token that the HTTP verifier put in the context).
func RemoteAPI(c usersv1.UsersServiceClient, opts ...grpc.CallOption) API {
	return remoteAPI{c: c, opts: opts}
}

type remoteAPI struct {
	c    usersv1.UsersServiceClient
	opts []grpc.CallOption
}

func (r remoteAPI) CreateUser(ctx context.Context, req *usersv1.CreateUserRequest) (*usersv1.User, error) {
	return r.c.CreateUser(ctx, req, r.opts...)
}

func (r remoteAPI) Authenticate(ctx context.Context, req *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error) {
	return r.c.Authenticate(ctx, req, r.opts...)
}

func (r remoteAPI) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.User, error) {
	return r.c.GetUser(ctx, req, r.opts...)
}

func (r remoteAPI) UpdateUser(ctx context.Context, req *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	return r.c.UpdateUser(ctx, req, r.opts...)
}

// ids are the path variables that hold ids: a malformed one is refused
// before any call, at the gateway too.
var ids = []string{"id"}
