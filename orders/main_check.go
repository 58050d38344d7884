package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/pg"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	productsclient "github.com/kitshop/kitshop/products/client"
)

// runCheck is `orders check` (`go run ./orders check`): it reconciles the
// orders database with products and payments (see Checker) and prints
// every discrepancy, one per line or as one JSON document with -json, and
// a summary line.
//
// It reads the configuration the service reads (kit/config: the orders
// database from KITSHOP_ORDERS_DATABASE_URL or DATABASE_URL, the registry,
// KITSHOP_TLS_* with the orders certificate, KITSHOP_PRODUCTS_ADDR and
// KITSHOP_PAYMENTS_ADDR), so it runs beside the service with the same
// environment. It serves nothing.
//
// Exit status: 0 when everything agrees; 1 when discrepancies were found
// (the error returned, which boot.Main reports); 2 when the check could
// not be made or was cut short (bad flags, no database, a service that
// does not answer), so a script never takes "could not check" for
// "found problems" or for "all clear". boot.Main exits 1 on any error, so
// runCheck exits 2 itself, once everything it opened is closed.
func runCheck(ctx context.Context, args []string) error {
	err := checkCommand(ctx, args, os.Stdout, os.Stderr)
	var found *discrepanciesFound
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.As(err, &found) {
		return err
	}
	fmt.Fprintf(os.Stderr, "orders check: could not check: %v\n", err)
	os.Exit(2)
	return nil
}

// discrepanciesFound is checkCommand's error when the check ran to the
// end and found something (exit status 1).
type discrepanciesFound struct{ n int }

func (e *discrepanciesFound) Error() string {
	return fmt.Sprintf("check found %d discrepancies", e.n)
}

// checkFlags are check's own settings, besides the service's.
type checkFlags struct {
	grace, callTimeout, timeout *time.Duration
	concurrency                 *int
	json                        *bool
}

func defineCheckFlags(fs *flag.FlagSet) checkFlags {
	return checkFlags{
		grace: config.Duration(fs, "grace", "KITSHOP_ORDERS_CHECK_GRACE", DefaultCheckGrace,
			"how long a saga may be in flight: younger PENDING orders and payments, and younger refunds of CONFIRMED orders, are skipped"),
		callTimeout: config.Duration(fs, "call-timeout", "KITSHOP_ORDERS_CHECK_CALL_TIMEOUT", DefaultCheckCallTimeout,
			"bound on each call to the database, products or payments, retries included"),
		timeout: config.Duration(fs, "timeout", "KITSHOP_ORDERS_CHECK_TIMEOUT", 30*time.Minute,
			"bound on the whole check"),
		concurrency: config.Int(fs, "concurrency", "KITSHOP_ORDERS_CHECK_CONCURRENCY", DefaultCheckConcurrency,
			"lookups in flight at once"),
		json: config.Bool(fs, "json", "KITSHOP_ORDERS_CHECK_JSON", false,
			"print the report as one JSON document instead of one line per discrepancy"),
	}
}

func (f checkFlags) validate() error {
	if *f.grace <= 0 || *f.callTimeout <= 0 || *f.timeout <= 0 || *f.concurrency <= 0 {
		return fmt.Errorf("-grace, -call-timeout, -timeout and -concurrency must be positive")
	}
	return nil
}

// checkCommand is runCheck without the process exit, for tests: the
// report goes to stdout, logs and the JSON mode's summary to stderr.
func checkCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The process's own info lines (its start-up) would bury the report;
	// -log-level or KITSHOP_LOG_LEVEL still ask for them.
	if strings.TrimSpace(os.Getenv("KITSHOP_LOG_LEVEL")) == "" {
		args = append([]string{"-log-level=warn"}, args...)
	}
	var flags checkFlags
	cfg, err := config.ParseService("orders", "127.0.0.1:0", "", args, func(fs *flag.FlagSet) {
		flags = defineCheckFlags(fs)
	})
	if err != nil {
		return err
	}
	if err := flags.validate(); err != nil {
		return err
	}
	if cfg.UsesMemoryStore() {
		return errors.New("the check reads the orders database: set KITSHOP_ORDERS_DATABASE_URL or DATABASE_URL " +
			"(an orders process on the in-memory store keeps its orders to itself)")
	}
	// The check serves nothing, but boot.New opens the HTTP listener:
	// give it a free loopback port, whatever the service's environment
	// says, so that the check runs beside a live orders process.
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", ""

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *flags.timeout)
	defer cancel()

	p, err := boot.New(cfg, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	store, err := openCheckStore(ctx, cfg, p.Logger)
	if err != nil {
		return err
	}
	defer store.Close()
	// The same client packages, discovery, mTLS identity and breakers as
	// the service (boot.Client); p.Close closes them.
	products, err := boot.Client(p, productsclient.Service, productsclient.New, nil)
	if err != nil {
		return err
	}
	payments, err := boot.Client(p, paymentsclient.Service, paymentsclient.New, nil)
	if err != nil {
		return err
	}

	checker := Checker{Store: store, Products: products, Payments: payments,
		Grace: *flags.grace, Concurrency: *flags.concurrency, CallTimeout: *flags.callTimeout}
	rep, runErr := checker.Run(ctx)
	if err := printCheckReport(rep, runErr, *flags.json, stdout, stderr); err != nil {
		return err
	}
	switch {
	case runErr != nil:
		return runErr
	case len(rep.Discrepancies) > 0:
		return &discrepanciesFound{n: len(rep.Discrepancies)}
	}
	return nil
}

// openCheckStore opens the orders schema for reading. Unlike the service
// it applies no migrations: a check changes nothing, and a schema older
// than this binary fails the check's queries with a clear error instead
// of being migrated from an operator's terminal.
func openCheckStore(ctx context.Context, cfg config.Service, logger log.Logger) (Store, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	db, err := pg.Open(ctx, cfg.DatabaseURL, cfg.Name, pg.WithLogger(log.With(logger, "component", "postgres")))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return newPostgresStore(db), nil
}

// printCheckReport writes rep: one line per discrepancy and a summary
// line, or one JSON document (then the summary goes to stderr, keeping
// stdout one document for jq). runErr marks the report incomplete.
func printCheckReport(rep Report, runErr error, asJSON bool, stdout, stderr io.Writer) error {
	summary := fmt.Sprintf("checked %d orders and %d payments: %d discrepancies, %d skipped as in flight",
		rep.OrdersChecked, rep.PaymentsChecked, len(rep.Discrepancies), rep.InFlight)
	if runErr != nil {
		summary += " (INCOMPLETE: the check stopped early)"
	}
	if asJSON {
		out := struct {
			Report
			Complete bool `json:"complete"`
		}{rep, runErr == nil}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		_, err := fmt.Fprintln(stderr, summary)
		return err
	}
	for _, d := range rep.Discrepancies {
		if _, err := fmt.Fprintf(stdout, "%s order=%s payment=%s %s\n", d.Kind, orDash(d.OrderID), orDash(d.PaymentID), d.Detail); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(stdout, summary)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
