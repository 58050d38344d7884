// Command payments charges and refunds cards through a simulated processor
// (see API.md, Payments) over HTTP on :8084 and gRPC on :9084. Charge and
// Refund are for the orders saga (gRPC only); GetPayment serves the
// payment's owner or an admin on both transports.
package main

import (
	"context"
	"database/sql"
	"flag"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

func main() { boot.Main("payments", run) }

func run(ctx context.Context, args []string) error {
	var tokens boot.TokenFlags
	cfg, err := config.ParseService("payments", ":8084", ":9084", args, func(fs *flag.FlagSet) {
		tokens = boot.DefineTokenFlags(fs)
	})
	if err != nil {
		return err
	}
	p, err := boot.New(cfg, nil)
	if err != nil {
		return err
	}
	defer p.Close()

	store, err := boot.OpenStore(ctx, p, migrationFiles,
		func() Store { return newMemoryStore() },
		func(db *sql.DB) Store { return &postgresStore{db: db} })
	if err != nil {
		return err
	}
	verifier, err := p.Verifier(tokens)
	if err != nil {
		return err
	}
	_ = level.Info(p.Logger).Log("msg", "using the simulated card processor (test cards per API.md)")
	svc := NewService(store, Options{Logger: p.Logger})
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(verifier.GRPCServerOptions()...)
	paymentsv1.RegisterPaymentsServiceServer(grpcSrv, NewGRPCServer(endpoints))
	return p.Run(ctx, NewHTTPHandler(endpoints, verifier), grpcSrv)
}
