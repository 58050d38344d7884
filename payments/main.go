// Command payments charges and refunds cards through a simulated processor
// (see API.md, Payments) over HTTP on :8084 and gRPC on :9084. Charge and
// Refund are for the orders saga (gRPC only); GetPayment serves the
// payment's owner or an admin on both transports.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/pg"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

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

	store, err := openStore(ctx, cfg, p)
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

func openStore(ctx context.Context, cfg config.Service, p *boot.Process) (Store, error) {
	if cfg.UsesMemoryStore() {
		_ = level.Info(p.Logger).Log("msg", "using the in-memory store (set DATABASE_URL for Postgres)")
		return newMemoryStore(), nil
	}
	_ = level.Info(p.Logger).Log("msg", "using Postgres", "database", pg.Redact(cfg.DatabaseURL), "schema", schema)
	s, err := openPostgresStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	p.OnClose(s)
	p.Ready.AddCheck("postgres", pg.Check(s.db))
	return s, nil
}
