// Command products serves the catalog and the inventory (see API.md,
// Products) over HTTP on :8082 and gRPC on :9082.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"time"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

func main() { boot.Main("products", run) }

func run(ctx context.Context, args []string) error {
	var tokens boot.TokenFlags
	var reapEvery *time.Duration
	cfg, err := config.ParseService("products", ":8082", ":9082", args, func(fs *flag.FlagSet) {
		tokens = boot.DefineTokenFlags(fs)
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

	store, err := boot.OpenStore(ctx, p, migrations,
		func() Store { return newMemoryStore() },
		func(db *sql.DB) Store { return newPostgresStore(db, cfg.DatabaseURL, p.Logger) })
	if err != nil {
		return err
	}
	verifier, err := p.Verifier(tokens)
	if err != nil {
		return err
	}
	svc := NewService(store, Options{Logger: p.Logger})
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(verifier.GRPCServerOptions()...)
	productsv1.RegisterProductsServiceServer(grpcSrv, NewGRPCServer(endpoints, svc, p.Ready))
	return p.Run(ctx, NewHTTPHandler(endpoints, verifier), grpcSrv,
		svc.RunStockFeed, reaperJob(svc, *reapEvery, p.Logger))
}
