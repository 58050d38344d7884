// Command users serves accounts, login and token issuance (see API.md,
// Users) over HTTP on :8081 and gRPC on :9081.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"flag"
	"fmt"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/tlsx"
	"github.com/kitshop/kitshop/kit/typed"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

func main() { boot.Main("users", run) }

func run(ctx context.Context, args []string) error {
	var keyFile, adminEmail, adminPassword *string
	var bcryptCost *int
	cfg, err := config.ParseService("users", ":8081", ":9081", args, func(fs *flag.FlagSet) {
		keyFile = config.String(fs, "jwt-key-file", "KITSHOP_JWT_KEY_FILE", "", "Ed25519 private key (PKCS#8 PEM) signing access tokens; empty generates a dev key")
		adminEmail = config.String(fs, "admin-email", "KITSHOP_ADMIN_EMAIL", "", "bootstrap admin e-mail")
		adminPassword = config.String(fs, "admin-password", "KITSHOP_ADMIN_PASSWORD", "", "bootstrap admin password")
		bcryptCost = config.Int(fs, "bcrypt-cost", "KITSHOP_BCRYPT_COST", 10, "bcrypt cost of password hashes")
	})
	if err != nil {
		return err
	}
	p, err := boot.New(cfg, nil)
	if err != nil {
		return err
	}
	defer p.Close()

	store, err := boot.OpenStore(ctx, p, migrations,
		func() Store { return newMemoryStore() },
		func(db *sql.DB) Store { return &postgresStore{db: db} })
	if err != nil {
		return err
	}
	key, err := signingKey(*keyFile, p.Logger)
	if err != nil {
		return err
	}
	svc, err := NewService(store, key, Options{BcryptCost: *bcryptCost})
	if err != nil {
		return err
	}
	if *adminEmail != "" || *adminPassword != "" {
		admin, err := svc.EnsureAdmin(ctx, *adminEmail, *adminPassword)
		if err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
		_ = level.Info(p.Logger).Log("msg", "bootstrap admin ready", "user_id", admin.ID)
	}

	pub, err := typed.Cast[ed25519.PublicKey](key.Public())
	if err != nil {
		return err
	}
	verifier := auth.NewVerifier(auth.StaticKeys(pub))
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(append(p.AllowCallers(internalMethods), verifier.GRPCServerOptions()...)...)
	usersv1.RegisterUsersServiceServer(grpcSrv, NewGRPCServer(endpoints))
	return p.Run(ctx, NewHTTPHandler(endpoints, svc.JWKS(), verifier), grpcSrv)
}

// internalMethods are the methods only other kitshop services may call,
// checked against the caller's certificate under mTLS. payments validates
// the user it charges.
var internalMethods = tlsx.AllowList{
	usersv1.UsersService_ValidateUser_FullMethodName: {"orders", "gateway", "payments"},
}

// signingKey loads the token signing key, or makes a throwaway one. A
// generated key changes on every restart and differs between instances, so
// tokens stop verifying: fine on a laptop, never in production.
func signingKey(path string, logger log.Logger) (ed25519.PrivateKey, error) {
	if path != "" {
		return auth.LoadPrivateKey(path)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	_ = level.Warn(logger).Log("msg", "KITSHOP_JWT_KEY_FILE unset: signing tokens with a generated dev key; tokens die with this process")
	return key, nil
}
