// Command products serves the catalog and the inventory (see API.md,
// Products) over HTTP on :8082 and gRPC on :9082.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/typed"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "products:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var publicKeyFile, jwksURL *string
	var reapEvery *time.Duration
	cfg, err := config.ParseService("products", ":8082", ":9082", args, func(fs *flag.FlagSet) {
		publicKeyFile = config.String(fs, "jwt-public-key-file", "KITSHOP_JWT_PUBLIC_KEY_FILE", "",
			"Ed25519 public key (PKIX PEM) verifying access tokens; overrides the users service's JWKS")
		jwksURL = config.String(fs, "jwks-url", "KITSHOP_JWKS_URL", "",
			"JWKS URL verifying access tokens; default: the JWKS of a users instance found in the registry")
		reapEvery = config.Duration(fs, "reap-interval", "KITSHOP_PRODUCTS_REAP_INTERVAL", 15*time.Second,
			"how often expired reservations are released")
	})
	if err != nil {
		return err
	}
	if *reapEvery <= 0 {
		return fmt.Errorf("-reap-interval must be positive, got %s", *reapEvery)
	}
	p, err := boot.New(cfg, nil)
	if err != nil {
		return err
	}
	defer p.Close()

	store, err := openStore(ctx, cfg, p)
	if err != nil {
		return err
	}
	keys, err := tokenKeys(*publicKeyFile, *jwksURL, p)
	if err != nil {
		return err
	}
	svc := NewService(store, Options{Logger: p.Logger})
	verifier := auth.NewVerifier(keys)
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(verifier.GRPCServerOptions()...)
	productsv1.RegisterProductsServiceServer(grpcSrv, NewGRPCServer(endpoints, svc, p.Ready))
	return p.Run(ctx, NewHTTPHandler(endpoints, verifier), grpcSrv,
		svc.RunStockFeed, reaperJob(svc, *reapEvery, p.Logger))
}

func openStore(ctx context.Context, cfg config.Service, p *boot.Process) (Store, error) {
	if cfg.UsesMemoryStore() {
		_ = level.Info(p.Logger).Log("msg", "using the in-memory store (set DATABASE_URL for Postgres)")
		return newMemoryStore(), nil
	}
	_ = level.Info(p.Logger).Log("msg", "using Postgres", "database", pg.Redact(cfg.DatabaseURL), "schema", "products")
	s, err := openPostgresStore(ctx, cfg.DatabaseURL, p.Logger)
	if err != nil {
		return nil, err
	}
	p.OnClose(s)
	p.Ready.AddCheck("postgres", s.Check)
	return s, nil
}

// tokenKeys picks where the keys verifying admin tokens come from: a key
// file, a fixed JWKS URL, or (the default) the JWKS of whichever users
// instance the registry lists, looked up on each (rare, cached) fetch so a
// restarted users on a new port is found again.
func tokenKeys(file, url string, p *boot.Process) (auth.KeySource, error) {
	switch {
	case file != "":
		pub, err := readPublicKey(file)
		if err != nil {
			return nil, err
		}
		_ = level.Info(p.Logger).Log("msg", "verifying tokens with a key file", "file", file)
		return auth.StaticKeys(pub), nil
	case url != "":
		_ = level.Info(p.Logger).Log("msg", "verifying tokens with a JWKS URL", "url", url)
		return auth.JWKSFromURL(func(context.Context) (string, error) { return url, nil }, nil), nil
	}
	client, err := p.Etcd()
	if err != nil {
		return nil, fmt.Errorf("registry client for JWKS discovery: %w", err)
	}
	if client == nil {
		_ = level.Warn(p.Logger).Log("msg", "no registry and no KITSHOP_JWT_PUBLIC_KEY_FILE or KITSHOP_JWKS_URL: "+
			"no token verifies, so admin routes answer 401")
		return auth.StaticKeys(), nil
	}
	_ = level.Info(p.Logger).Log("msg", "verifying tokens with the JWKS of a registered users instance")
	return auth.JWKSFromURL(func(ctx context.Context) (string, error) {
		insts, err := sd.List(ctx, client, "users")
		if err != nil {
			return "", err
		}
		if len(insts) == 0 {
			return "", errors.New("no users instance is registered")
		}
		return "http://" + insts[rand.IntN(len(insts))].HTTPAddr + "/.well-known/jwks.json", nil
	}, nil), nil
}

func readPublicKey(path string) (ed25519.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read jwt public key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("jwt public key %s: no PEM block", path)
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("jwt public key %s: %w", path, err)
	}
	pub, err := typed.Cast[ed25519.PublicKey](parsed)
	if err != nil {
		return nil, fmt.Errorf("jwt public key %s: %T is not an Ed25519 key", path, parsed)
	}
	return pub, nil
}
