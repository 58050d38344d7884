// Command payments charges and refunds cards through a simulated processor
// (see API.md, Payments) over HTTP on :8084 and gRPC on :9084. Charge,
// Refund and GetChargeByKey are for the orders saga (gRPC only);
// GetPayment serves the payment's owner or an admin on both transports.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"time"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

func main() { boot.Main("payments", run) }

// chargeFlags tune the charge flow's time bounds.
type chargeFlags struct {
	processorTimeout, recoverAfter, recoveryInterval *time.Duration
}

func defineChargeFlags(fs *flag.FlagSet) chargeFlags {
	return chargeFlags{
		processorTimeout: config.Duration(fs, "processor-timeout", "KITSHOP_PROCESSOR_TIMEOUT", DefaultProcessorTimeout,
			"bound on one call to the card processor"),
		recoverAfter: config.Duration(fs, "charge-recovery-after", "KITSHOP_CHARGE_RECOVERY_AFTER", DefaultRecoverAfter,
			"age after which a PENDING charge the processor has no answer for is recorded FAILED (at least twice -processor-timeout)"),
		recoveryInterval: config.Duration(fs, "charge-recovery-interval", "KITSHOP_CHARGE_RECOVERY_INTERVAL", DefaultRecoveryInterval,
			"how often to settle charges left PENDING by a crash (also once at start-up)"),
	}
}

func (f chargeFlags) check() error {
	if *f.processorTimeout <= 0 || *f.recoveryInterval <= 0 {
		return fmt.Errorf("payments: -processor-timeout and -charge-recovery-interval must be > 0")
	}
	if *f.recoverAfter < 2**f.processorTimeout {
		return fmt.Errorf("payments: -charge-recovery-after (%v) must be at least twice -processor-timeout (%v): "+
			"a younger charge may still be in flight", *f.recoverAfter, *f.processorTimeout)
	}
	return nil
}

func run(ctx context.Context, args []string) error {
	var tokens boot.TokenFlags
	var charges chargeFlags
	cfg, err := config.ParseService("payments", ":8084", ":9084", args, func(fs *flag.FlagSet) {
		tokens = boot.DefineTokenFlags(fs)
		charges = defineChargeFlags(fs)
	})
	if err != nil {
		return err
	}
	if err := charges.check(); err != nil {
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
	processor, err := openProcessor(ctx, p)
	if err != nil {
		return err
	}
	verifier, err := p.Verifier(tokens)
	if err != nil {
		return err
	}
	// The users client is wired by the lead once users/client exists; until
	// then NewService logs that charges do not check their user.
	svc := NewService(store, nil, Options{
		Processor: processor, Logger: p.Logger,
		ProcessorTimeout: *charges.processorTimeout, RecoverAfter: *charges.recoverAfter,
	})
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(verifier.GRPCServerOptions()...)
	paymentsv1.RegisterPaymentsServiceServer(grpcSrv, NewGRPCServer(endpoints))
	return p.Run(ctx, NewHTTPHandler(endpoints, verifier), grpcSrv, svc.RecoveryJob(*charges.recoveryInterval))
}

// openProcessor gives the process its simulated card processor, whose
// memory of charges lives beside the store: in memory, or in its own
// schema of the same database, so it outlives a crash of this process as
// a real processor's would.
func openProcessor(ctx context.Context, p *boot.Process) (*SimulatedProcessor, error) {
	if p.Config.UsesMemoryStore() {
		_ = level.Info(p.Logger).Log("msg", "using the simulated card processor (test cards per API.md), in memory")
		return NewSimulatedProcessor(), nil
	}
	proc, err := OpenSimulatedProcessor(ctx, p.Config.DatabaseURL)
	if err != nil {
		return nil, err
	}
	p.OnClose(proc)
	_ = level.Info(p.Logger).Log("msg", "using the simulated card processor (test cards per API.md)", "schema", processorSchema)
	return proc, nil
}
