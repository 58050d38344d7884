// Command payments charges and refunds cards through a simulated processor
// (see API.md, Payments) over HTTP on :8084 and gRPC on :9084. Charge,
// Refund and GetChargeByKey are for the orders saga, ListPayments for its
// consistency checker (gRPC only);
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
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/tlsx"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	usersclient "github.com/kitshop/kitshop/users/client"
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
	users, err := openUsers(p)
	if err != nil {
		return err
	}
	svc := NewService(store, users, Options{
		Processor: processor, Logger: p.Logger, Metrics: p.Metrics,
		ProcessorTimeout: *charges.processorTimeout, RecoverAfter: *charges.recoverAfter,
	})
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(append(p.AllowCallers(internalMethods), verifier.GRPCServerOptions()...)...)
	paymentsv1.RegisterPaymentsServiceServer(grpcSrv, NewGRPCServer(endpoints))
	return p.Run(ctx, NewHTTPHandler(endpoints, verifier), grpcSrv, svc.RecoveryJob(*charges.recoveryInterval))
}

// internalMethods are the saga's, and the orders consistency checker's
// ListPayments: only orders may move money or see every payment, checked
// against the caller's certificate under mTLS.
var internalMethods = tlsx.AllowList{
	paymentsv1.PaymentsService_Charge_FullMethodName:         {"orders"},
	paymentsv1.PaymentsService_Refund_FullMethodName:         {"orders"},
	paymentsv1.PaymentsService_GetChargeByKey_FullMethodName: {"orders"},
	paymentsv1.PaymentsService_ListPayments_FullMethodName:   {"orders"},
}

// openUsers is the users service as Charge needs it, through users/client
// over discovery (or KITSHOP_USERS_ADDR); nil without either.
func openUsers(p *boot.Process) (Users, error) {
	cfg, err := p.Backend(usersclient.Service)
	if err != nil {
		return nil, err
	}
	if cfg.Etcd == nil && cfg.Addr == "" {
		return nil, nil // no registry: NewService warns that users go unchecked
	}
	c, err := usersclient.New(cfg)
	if err != nil {
		return nil, err
	}
	p.OnClose(c)
	return usersChecker{c}, nil
}

// usersChecker adapts users/client to Users: a disabled user may not be
// charged any more than a missing one.
type usersChecker struct{ c usersclient.Client }

func (u usersChecker) Validate(ctx context.Context, userID string) error {
	_, err := u.c.ValidateUser(ctx, &usersv1.ValidateUserRequest{UserId: userID})
	if r := errs.ReasonOf(err); r == usersclient.ReasonUserDisabled {
		return errs.Wrap(errs.NotFound, usersclient.ReasonUserNotFound, err, "user may not be charged")
	}
	return err
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
