package main

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/grpcx"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	"github.com/kitshop/kitshop/users/client"
)

// grpcServer adapts Endpoints to the generated UsersServiceServer. Errors
// become statuses with ErrorInfo in kit/grpcx's interceptors.
type grpcServer struct {
	usersv1.UnimplementedUsersServiceServer
	createUser   *grpcx.Handler[*usersv1.CreateUserRequest, *usersv1.User]
	authenticate *grpcx.Handler[*usersv1.AuthenticateRequest, *usersv1.AuthenticateResponse]
	getUser      *grpcx.Handler[*usersv1.GetUserRequest, *usersv1.User]
	updateUser   *grpcx.Handler[*usersv1.UpdateUserRequest, *usersv1.User]
	validateUser *grpcx.Handler[*usersv1.ValidateUserRequest, *usersv1.ValidateUserResponse]
}

// The HTTP transport serves users/client's REST mapping over this same
// adapter, in-process.
var _ client.API = (*grpcServer)(nil)

// NewGRPCServer serves e as kitshop.users.v1.UsersService.
func NewGRPCServer(e Endpoints) usersv1.UsersServiceServer {
	return &grpcServer{
		createUser:   grpcx.NewHandler(e.CreateUser, decodeCreateUser, encodeUser),
		authenticate: grpcx.NewHandler(e.Authenticate, decodeAuthenticate, encodeSession),
		getUser:      grpcx.NewHandler(e.GetUser, decodeGetUser, encodeUser),
		updateUser:   grpcx.NewHandler(e.UpdateUser, decodeUpdateUser, encodeUser),
		validateUser: grpcx.NewHandler(e.ValidateUser, decodeValidateUser, encodeValidation),
	}
}

func (s *grpcServer) CreateUser(ctx context.Context, r *usersv1.CreateUserRequest) (*usersv1.User, error) {
	return s.createUser.Serve(ctx, r)
}

func (s *grpcServer) Authenticate(ctx context.Context, r *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error) {
	return s.authenticate.Serve(ctx, r)
}

func (s *grpcServer) GetUser(ctx context.Context, r *usersv1.GetUserRequest) (*usersv1.User, error) {
	return s.getUser.Serve(ctx, r)
}

func (s *grpcServer) UpdateUser(ctx context.Context, r *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	return s.updateUser.Serve(ctx, r)
}

func (s *grpcServer) ValidateUser(ctx context.Context, r *usersv1.ValidateUserRequest) (*usersv1.ValidateUserResponse, error) {
	return s.validateUser.Serve(ctx, r)
}

func decodeCreateUser(_ context.Context, r *usersv1.CreateUserRequest) (NewUser, error) {
	return NewUser{Email: r.GetEmail(), Password: r.GetPassword(), Name: r.GetName(), Address: addressFromPB(r.GetAddress())}, nil
}

func decodeAuthenticate(_ context.Context, r *usersv1.AuthenticateRequest) (Credentials, error) {
	return Credentials{Email: r.GetEmail(), Password: r.GetPassword()}, nil
}

func decodeGetUser(_ context.Context, r *usersv1.GetUserRequest) (string, error) {
	return r.GetId(), nil
}

func decodeUpdateUser(_ context.Context, r *usersv1.UpdateUserRequest) (UserUpdate, error) {
	return UserUpdate{
		ID: r.GetId(), Name: r.Name, Address: addressFromPB(r.GetAddress()), ClearAddress: r.GetClearAddress(),
		Password: r.Password, CurrentPassword: r.CurrentPassword,
	}, nil
}

func decodeValidateUser(_ context.Context, r *usersv1.ValidateUserRequest) (string, error) {
	return r.GetUserId(), nil
}

func encodeUser(_ context.Context, u User) (*usersv1.User, error) { return userToPB(u), nil }

func encodeSession(_ context.Context, s Session) (*usersv1.AuthenticateResponse, error) {
	return &usersv1.AuthenticateResponse{
		AccessToken: s.AccessToken, TokenType: s.TokenType, ExpiresIn: s.ExpiresIn, User: userToPB(s.User),
	}, nil
}

func encodeValidation(_ context.Context, u User) (*usersv1.ValidateUserResponse, error) {
	return &usersv1.ValidateUserResponse{UserId: u.ID, Email: u.Email, Role: u.Role}, nil
}

func userToPB(u User) *usersv1.User {
	return &usersv1.User{
		Id: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Address: addressToPB(u.Address),
		CreatedAt: timestamppb.New(u.CreatedAt), UpdatedAt: timestamppb.New(u.UpdatedAt),
	}
}

func addressFromPB(a *commonv1.Address) *Address {
	if a == nil {
		return nil
	}
	return &Address{Line1: a.GetLine1(), Line2: a.GetLine2(), City: a.GetCity(), State: a.GetState(),
		PostalCode: a.GetPostalCode(), Country: a.GetCountry()}
}

func addressToPB(a *Address) *commonv1.Address {
	if a == nil {
		return nil
	}
	return &commonv1.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State,
		PostalCode: a.PostalCode, Country: a.Country}
}
