// Package client is everything a caller of the users service needs: the
// typed gRPC client over discovery (this file), the reason codes the
// service returns, and the REST mapping of the Users part of API.md.
// Other services and the gateway import it; they never import users.
package client

import (
	"context"

	"github.com/kitshop/kitshop/kit/sd"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

// Service is the name users registers under.
const Service = "users"

// Client calls the users service. Reads and login are retried on another
// instance when one is unavailable; CreateUser and UpdateUser, which carry
// no idempotency key, are sent once. Errors keep the kind and reason the
// service returned (see the Reason constants), or are Unavailable with
// kit/sd's NO_INSTANCES or kit/mw's BREAKER_OPEN when no call was made.
type Client interface {
	CreateUser(context.Context, *usersv1.CreateUserRequest) (*usersv1.User, error)
	Authenticate(context.Context, *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error)
	GetUser(context.Context, *usersv1.GetUserRequest) (*usersv1.User, error)
	UpdateUser(context.Context, *usersv1.UpdateUserRequest) (*usersv1.User, error)
	// ValidateUser is internal: only orders and the gateway may call it.
	ValidateUser(context.Context, *usersv1.ValidateUserRequest) (*usersv1.ValidateUserResponse, error)
	// Close releases the connections; calls fail afterwards.
	Close() error
}

// New returns a Client for the backend cfg describes (see
// kit/boot.Process.Backend); cfg.Service defaults to "users".
func New(cfg sd.BackendConfig) (Client, error) {
	if cfg.Service == "" {
		cfg.Service = Service
	}
	b, err := sd.NewBackend(cfg, usersv1.NewUsersServiceClient)
	if err != nil {
		return nil, err
	}
	return &client{
		Backend:      b,
		createUser:   sd.Unary(b, "CreateUser", sd.Once, usersv1.UsersServiceClient.CreateUser),
		authenticate: sd.Unary(b, "Authenticate", sd.Read, usersv1.UsersServiceClient.Authenticate),
		getUser:      sd.Unary(b, "GetUser", sd.Read, usersv1.UsersServiceClient.GetUser),
		updateUser:   sd.Unary(b, "UpdateUser", sd.Once, usersv1.UsersServiceClient.UpdateUser),
		validateUser: sd.Unary(b, "ValidateUser", sd.Read, usersv1.UsersServiceClient.ValidateUser),
	}, nil
}

type client struct {
	*sd.Backend[usersv1.UsersServiceClient]
	createUser   func(context.Context, *usersv1.CreateUserRequest) (*usersv1.User, error)
	authenticate func(context.Context, *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error)
	getUser      func(context.Context, *usersv1.GetUserRequest) (*usersv1.User, error)
	updateUser   func(context.Context, *usersv1.UpdateUserRequest) (*usersv1.User, error)
	validateUser func(context.Context, *usersv1.ValidateUserRequest) (*usersv1.ValidateUserResponse, error)
}

func (c *client) CreateUser(ctx context.Context, r *usersv1.CreateUserRequest) (*usersv1.User, error) {
	return c.createUser(ctx, r)
}

func (c *client) Authenticate(ctx context.Context, r *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error) {
	return c.authenticate(ctx, r)
}

func (c *client) GetUser(ctx context.Context, r *usersv1.GetUserRequest) (*usersv1.User, error) {
	return c.getUser(ctx, r)
}

func (c *client) UpdateUser(ctx context.Context, r *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	return c.updateUser(ctx, r)
}

func (c *client) ValidateUser(ctx context.Context, r *usersv1.ValidateUserRequest) (*usersv1.ValidateUserResponse, error) {
	return c.validateUser(ctx, r)
}
