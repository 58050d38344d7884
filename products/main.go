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
	"github.com/kitshop/kitshop/kit/tlsx"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

func main() { boot.Main("products", run) }

func run(ctx context.Context, args []string) error {
	var tokens boot.TokenFlags
	var reapEvery *time.Duration
	var maxWatchers, maxWatched *int
	var seedDemo *bool
	cfg, err := config.ParseService("products", ":8082", ":9082", args, func(fs *flag.FlagSet) {
		tokens = boot.DefineTokenFlags(fs)
		reapEvery = config.Duration(fs, "reap-interval", "KITSHOP_PRODUCTS_REAP_INTERVAL", 15*time.Second,
			"how often expired reservations are released")
		maxWatchers = config.Int(fs, "max-watchers", "KITSHOP_PRODUCTS_MAX_WATCHERS", DefaultMaxWatchers,
			"stock watches (WatchStock streams) this process serves at once")
		maxWatched = config.Int(fs, "max-watched-products", "KITSHOP_PRODUCTS_MAX_WATCHED_PRODUCTS", DefaultMaxWatchedProducts,
			"products one stock watch may follow")
		seedDemo = config.Bool(fs, "seed-demo", "KITSHOP_PRODUCTS_SEED_DEMO", false,
			"on start, fill an empty catalog with demo products (make run sets it)")
	})
	if err != nil {
		return err
	}
	if *reapEvery <= 0 {
		return fmt.Errorf("-reap-interval must be positive, got %s", *reapEvery)
	}
	if *maxWatchers <= 0 || *maxWatched <= 0 {
		return fmt.Errorf("-max-watchers and -max-watched-products must be positive, got %d and %d", *maxWatchers, *maxWatched)
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
	svc := NewService(store, Options{Logger: p.Logger, Metrics: p.Metrics, MaxWatchers: *maxWatchers, MaxWatchedProducts: *maxWatched})
	if *seedDemo {
		if err := seedDemoAtStart(ctx, svc, cfg.StartupTimeout, p.Logger); err != nil {
			return err
		}
	}
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(append(p.AllowCallers(internalMethods), verifier.GRPCServerOptions()...)...)
	productsv1.RegisterProductsServiceServer(grpcSrv, NewGRPCServer(endpoints, svc, p.Ready))
	return p.Run(ctx, NewHTTPHandler(endpoints, verifier), grpcSrv,
		svc.RunStockFeed, reaperJob(svc, *reapEvery, p.Logger))
}

// internalMethods hold and return stock for the orders saga, and show a
// reservation to the orders consistency checker; only orders may call
// them, checked against the caller's certificate under mTLS.
var internalMethods = tlsx.AllowList{
	productsv1.ProductsService_ReserveInventory_FullMethodName:   {"orders"},
	productsv1.ProductsService_CommitReservation_FullMethodName:  {"orders"},
	productsv1.ProductsService_ReleaseReservation_FullMethodName: {"orders"},
	productsv1.ProductsService_RestockItems_FullMethodName:       {"orders"},
	productsv1.ProductsService_GetReservation_FullMethodName:     {"orders"},
}
