package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// checker runs `orders check` (the orders binary make run built) as an
// operator would, with make run's settings: the registry, the orders
// certificate, and the orders database from KITSHOP_ORDERS_DATABASE_URL
// or DATABASE_URL in this process's environment (the same variables make
// run was started with).
type checker struct {
	binary string
	env    []string
}

// ordersDatabase is the orders database make run gives orders, or "".
func ordersDatabase() string {
	if u := strings.TrimSpace(os.Getenv("KITSHOP_ORDERS_DATABASE_URL")); u != "" {
		return u
	}
	return strings.TrimSpace(os.Getenv("DATABASE_URL"))
}

func newChecker(binary string, p *platform) *checker {
	f := p.tlsFiles("orders")
	env := append(os.Environ(), "KITSHOP_ETCD_ENDPOINTS="+p.registry.GRPCAddr,
		"KITSHOP_TLS_CA="+f.CA, "KITSHOP_TLS_CERT="+f.Cert, "KITSHOP_TLS_KEY="+f.Key)
	if u := ordersDatabase(); u != "" {
		env = append(env, "DATABASE_URL="+u)
	}
	return &checker{binary: binary, env: env}
}

// checkGrace is how young an order may be and still be skipped as in
// flight. The load ends before the check, so only sagas still being
// finished (a compensation's retries, a resumed saga) are that young;
// the check is repeated until it is clean or checkBound has passed.
const (
	checkGrace = 5 * time.Second
	checkBound = 90 * time.Second
)

// run repeats the check until it is clean, within checkBound, and
// returns its last summary line and whether it was clean.
func (c *checker) run(ctx context.Context) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, checkBound)
	defer cancel()
	var last string
	for {
		out, code, err := c.once(ctx)
		if err != nil {
			return out, false, err
		}
		last = out
		if code == 0 {
			return last, true, nil
		}
		select {
		case <-ctx.Done():
			return last, false, nil
		case <-time.After(3 * time.Second):
		}
	}
}

func (c *checker) once(ctx context.Context) (string, int, error) {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, c.binary, "check", "-grace="+checkGrace.String(), "-timeout=50s")
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return strings.TrimSpace(string(out)), 0, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return strings.TrimSpace(string(out)), 1, nil // discrepancies (maybe in flight still)
	case errors.As(err, &exit) && exit.ExitCode() == 2:
		if ctx.Err() == nil {
			return strings.TrimSpace(string(out)), 2, nil // could not check now: retry
		}
	}
	return strings.TrimSpace(string(out)), -1, fmt.Errorf("orders check: %v\n%s", err, out)
}
