package main

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

// Endpoints are the users service's operations, each wrapped in the
// standard middleware chain. Both transports serve these same values.
type Endpoints struct {
	CreateUser   endpoint.Endpoint // NewUser -> User
	Authenticate endpoint.Endpoint // Credentials -> Session
	GetUser      endpoint.Endpoint // string (user id, "" = caller) -> User
	UpdateUser   endpoint.Endpoint // UserUpdate -> User
	ValidateUser endpoint.Endpoint // string (user id) -> User
}

// MakeEndpoints wires s behind chain; method names match the gRPC methods
// so logs and metrics read the same whichever transport served a call.
func MakeEndpoints(s Service, chain mw.Chain) Endpoints {
	return Endpoints{
		CreateUser: chain.Wrap("CreateUser", typed.Endpoint(s.Register)),
		Authenticate: chain.Wrap("Authenticate", typed.Endpoint(func(ctx context.Context, c Credentials) (Session, error) {
			return s.Login(ctx, c.Email, c.Password)
		})),
		GetUser:      chain.Wrap("GetUser", typed.Endpoint(s.Get)),
		UpdateUser:   chain.Wrap("UpdateUser", typed.Endpoint(s.Update)),
		ValidateUser: chain.Wrap("ValidateUser", typed.Endpoint(s.Validate)),
	}
}
