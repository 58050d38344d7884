package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"
)

// defaultCA is the development CA make run writes; used when present.
const defaultCA = ".run/tls/ca.pem"

type config struct {
	target        string
	grpc          bool
	grpcTarget    string
	grpcPlaintext bool
	cacert        string
	cert, key     string
	apiKey        string
	sched         schedule
	duration      time.Duration
	scenario      string
	mixSpec       string
	mix           mix
	users         int
	timeout       time.Duration
	setupTime     time.Duration
	skipVerify    bool
	allowRemote   bool
	jsonOut       string
	quiet         bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `loadgen drives kitshop at a fixed arrival rate (open loop) and reports latency.

  go run ./ops/loadgen -scenario journey -rate 50 -duration 30s -api-key KEY
  go run ./ops/loadgen -scenario get-product -rate 10 -step 10 -step-every 5s -duration 30s
  go run ./ops/loadgen -grpc -rate 200 -requests 5000

Flags:
`)
		fs.PrintDefaults()
	}
	ca := ""
	if _, err := os.Stat(defaultCA); err == nil {
		ca = defaultCA
	}
	fs.StringVar(&c.target, "target", "https://localhost:8080", "gateway base URL")
	fs.BoolVar(&c.grpc, "grpc", false, "drive products' gRPC GetProduct (with ghz) instead of HTTP")
	fs.StringVar(&c.grpcTarget, "grpc-target", "localhost:9082", "products' gRPC address for -grpc")
	fs.BoolVar(&c.grpcPlaintext, "grpc-plaintext", false, "gRPC without TLS (KITSHOP_INSECURE=1 make run)")
	fs.StringVar(&c.cacert, "cacert", ca, "PEM CA to verify the server with (default "+defaultCA+" when present)")
	fs.StringVar(&c.cert, "cert", "", "client certificate PEM for gRPC mTLS (optional: public methods take none)")
	fs.StringVar(&c.key, "key", "", "client key PEM for -cert")
	fs.StringVar(&c.apiKey, "api-key", "", "X-API-Key for the gateway's rate-limit tier (anonymous gets 10/min, burst 20)")
	fs.Float64Var(&c.sched.rate, "rate", 20, "arrival rate in requests per second (at the start, with -slope or -step)")
	fs.Float64Var(&c.sched.slope, "slope", 0, "linear ramp: add this many req/s every second")
	fs.Float64Var(&c.sched.step, "step", 0, "stepped ramp: add this many req/s every -step-every")
	fs.DurationVar(&c.sched.stepEvery, "step-every", 5*time.Second, "length of one step of -step")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send (0 = until -requests are sent)")
	fs.Uint64Var(&c.sched.limit, "requests", 0, "stop after this many requests (0 = no limit but -duration)")
	fs.StringVar(&c.scenario, "scenario", "journey", "journey, list, search, get-product, login, place-order or get-order")
	fs.StringVar(&c.mixSpec, "mix", "", "custom weighted mix, e.g. get-product=9,place-order=1 (overrides -scenario's)")
	fs.IntVar(&c.users, "users", 5, "customers setup registers for login and orders")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.DurationVar(&c.setupTime, "setup-timeout", 60*time.Second, "bound on setup (catalog, user pool), 429 waits included")
	fs.BoolVar(&c.skipVerify, "insecure-skip-verify", false, "do not verify the server certificate (loopback targets only)")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a target that is not this machine")
	fs.StringVar(&c.jsonOut, "json", "", "also write the report as JSON to this file")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected arguments %q (flags only)\n", fs.Args())
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c, nil
}

// validate checks the flags together, and that the target is local.
func (c *config) validate(ctx context.Context, r resolver) error {
	if err := c.sched.validate(); err != nil {
		return err
	}
	switch {
	case c.duration < 0:
		return errors.New("-duration must not be negative")
	case c.duration == 0 && c.sched.limit == 0:
		// Nothing would end the run: it must stop by itself.
		return errors.New("give -duration or -requests (or both): a run must end by itself")
	case c.users < 1 || c.users > 1000:
		return errors.New("-users must be from 1 to 1000")
	case c.timeout <= 0 || c.setupTime <= 0:
		return errors.New("-timeout and -setup-timeout must be positive")
	case (c.cert == "") != (c.key == ""):
		return errors.New("-cert and -key go together")
	}
	host := ""
	if c.grpc {
		h, _, err := net.SplitHostPort(c.grpcTarget)
		if err != nil {
			return fmt.Errorf("-grpc-target %q: want host:port: %w", c.grpcTarget, err)
		}
		host = h
	} else {
		u, err := url.Parse(c.target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("-target %q: want http(s)://host[:port]", c.target)
		}
		if u.Path != "" && u.Path != "/" {
			return fmt.Errorf("-target %q: give the base URL without a path", c.target)
		}
		c.target = u.Scheme + "://" + u.Host
		host = u.Hostname()
		m, err := scenarioMix(c.scenario, c.mixSpec)
		if err != nil {
			return err
		}
		c.mix = m
	}
	if err := checkLocal(ctx, r, host, c.allowRemote); err != nil {
		return err
	}
	if c.skipVerify {
		// -allow-remote does not extend to this: skipping verification
		// against a remote host is how credentials leak.
		if local, err := isLoopback(ctx, r, host); err != nil || !local {
			return errors.New("-insecure-skip-verify is refused for a target that is not loopback")
		}
	}
	return nil
}

// tlsConfig verifies the server with -cacert (or the system roots), and
// presents -cert when given.
func (c *config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.skipVerify}
	if c.cacert != "" {
		pem, err := os.ReadFile(c.cacert)
		if err != nil {
			return nil, fmt.Errorf("-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-cacert %s: no PEM certificate in it", c.cacert)
		}
		tc.RootCAs = pool
	}
	if c.cert != "" {
		pair, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			return nil, fmt.Errorf("-cert/-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
