// Command orders places orders through the checkout saga (API.md, Orders)
// over HTTP on :8083 and gRPC on :9083: users, products and payments are
// called through their client packages, over discovery (or
// KITSHOP_<SERVICE>_ADDR) and mTLS when configured. `orders check`
// reconciles orders with payments and products and exits non-zero on any
// discrepancy.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

func main() { boot.Main("orders", run) }

// run serves, unless args name a subcommand.
func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "check" {
		return runCheck(ctx, args[1:])
	}
	return serve(ctx, args)
}

// sagaFlags tune the sagas; their defaults are the service's.
type sagaFlags struct {
	reservationTTL, leaseTTL, resumeInterval *time.Duration
	maxDriving                               *int
}

func defineSagaFlags(fs *flag.FlagSet) sagaFlags {
	return sagaFlags{
		reservationTTL: config.Duration(fs, "reservation-ttl", "KITSHOP_ORDERS_RESERVATION_TTL", defaultReservationTTL,
			"how long a checkout's stock reservation holds (a checkout outliving it may find the stock sold)"),
		leaseTTL: config.Duration(fs, "lease-ttl", "KITSHOP_ORDERS_LEASE_TTL", defaultLeaseTTL,
			"how soon another instance takes over the sagas of one that died"),
		resumeInterval: config.Duration(fs, "resume-interval", "KITSHOP_ORDERS_RESUME_INTERVAL", defaultResumeInterval,
			"how often unfinished sagas (of a dead instance, or left waiting) are looked for; also once at start-up"),
		maxDriving: config.Int(fs, "max-driving", "KITSHOP_ORDERS_MAX_DRIVING", defaultMaxDriving,
			"sagas this instance drives at once; more wait in the database for the resume loop"),
	}
}

func (f sagaFlags) check() error {
	var bad []string
	for name, d := range map[string]time.Duration{
		"-reservation-ttl": *f.reservationTTL, "-lease-ttl": *f.leaseTTL, "-resume-interval": *f.resumeInterval,
	} {
		if d <= 0 {
			bad = append(bad, name)
		}
	}
	if *f.maxDriving < 1 {
		bad = append(bad, "-max-driving")
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("%s must be > 0", strings.Join(bad, ", "))
	}
	return nil
}

func serve(ctx context.Context, args []string) error {
	var tokens boot.TokenFlags
	var sagas sagaFlags
	cfg, err := config.ParseService("orders", ":8083", ":9083", args, func(fs *flag.FlagSet) {
		tokens = boot.DefineTokenFlags(fs)
		sagas = defineSagaFlags(fs)
	})
	if err != nil {
		return err
	}
	if err := sagas.check(); err != nil {
		return err
	}
	p, err := boot.New(cfg, nil)
	if err != nil {
		return err
	}
	defer p.Close()

	peers, err := openPeers(p)
	if err != nil {
		return err
	}
	store, err := boot.OpenStore(ctx, p, migrationFiles,
		func() Store { return newMemoryStore() },
		func(db *sql.DB) Store { return newPostgresStore(db).withListener(p.Config.DatabaseURL) })
	if err != nil {
		return err
	}
	if store, err = withOrderMetrics(store, p.Metrics, p.Logger); err != nil {
		return err
	}
	verifier, err := p.Verifier(tokens)
	if err != nil {
		return err
	}
	svc, err := NewService(store, peers.users, peers.products, peers.payments, Options{
		Logger: p.Logger, Metrics: p.Metrics, Tracer: p.Tracer,
		// Leases name this process: unique among instances, and new on
		// every start, so a restarted instance never mistakes its dead
		// predecessor's leases for its own.
		Owner:          p.Instance().ID,
		ReservationTTL: *sagas.reservationTTL, LeaseTTL: *sagas.leaseTTL,
		ResumeInterval: *sagas.resumeInterval, MaxDriving: *sagas.maxDriving,
	})
	if err != nil {
		return err
	}
	endpoints := MakeEndpoints(svc, p.Chain)
	// No internal methods: orders serves end users (by JWT) and the
	// gateway; ShipOrder and the debug listing check the admin role.
	grpcSrv := p.GRPCServer(verifier.GRPCServerOptions()...)
	ordersv1.RegisterOrdersServiceServer(grpcSrv, NewGRPCServer(endpoints, svc, p.Ready))
	return p.Run(ctx, NewHTTPHandler(endpoints, verifier), grpcSrv, svc.Jobs()...)
}

// peerClients are the services the sagas call, through their client packages.
type peerClients struct {
	users    usersclient.Client
	products productsclient.Client
	payments paymentsclient.Client
}

// openPeers connects to users, products and payments, each over the
// registry or its KITSHOP_<SERVICE>_ADDR. Orders cannot place an order
// without all three, so a peer with neither is a start-up error naming
// the settings, not a service that fails every checkout.
func openPeers(p *boot.Process) (peerClients, error) {
	var out peerClients
	var err error
	if out.users, err = boot.Client(p, usersclient.Service, usersclient.New, nil); err != nil {
		return out, err
	}
	if out.products, err = boot.Client(p, productsclient.Service, productsclient.New, nil); err != nil {
		return out, err
	}
	out.payments, err = boot.Client(p, paymentsclient.Service, paymentsclient.New, nil)
	return out, err
}
