package restart

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/ops/launcher/control"
)

// Services are what `restart all` replaces, in the launcher's start
// order: callees before their callers.
var Services = []string{"users", "products", "payments", "orders"}

// Main is `go run ./ops/rollout restart <service|all>` against `make run`:
// every instance of the service (of each, for all) is replaced one at a
// time through the launcher's control socket, while the registry's view
// says when a replacement is ready and an old instance gone. It prints
// each step and returns the exit code: 0 done, 1 a step failed (the
// instances are left as they were then, none fewer than before), 2 bad
// usage or no platform to talk to.
//
// The gateway and the registry are refused: the gateway's port is fixed,
// and a second gateway could only share it with SO_REUSEPORT, which
// kitshop's listeners do not set (kit/lifecycle); the registry is a
// single etcd member.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("control", control.DefaultPath, "the launcher's control socket (make run -port-offset N serves .run/launcher+N.sock)")
	ca := fs.String("cacert", filepath.Join(".run", "tls", "ca.pem"), "CA to verify the registry view with (make run's development CA)")
	insecure := config.Bool(fs, "insecure", "KITSHOP_INSECURE", false, "the platform runs without TLS (KITSHOP_INSECURE=1 make run)")
	ready := fs.Duration("ready-timeout", 60*time.Second, "bound on a replacement's start until it is registered")
	stopT := fs.Duration("stop-timeout", 30*time.Second, "bound on an old instance's graceful stop")
	var env multi
	fs.Var(&env, "env", "KITSHOP_NAME=value for every replacement (repeatable), e.g. -env KITSHOP_SERVICE_VERSION=v2")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./ops/rollout restart [flags] <%s|all>\n\n"+
			"Replaces every instance of the service, one at a time: start a replacement, wait until\n"+
			"the registry lists it, then stop (SIGTERM) an old one. Needs `make run` up.\n\nFlags:\n",
			strings.Join(Services, "|"))
		fs.PrintDefaults()
	}
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	targets, err := targetsOf(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "restart:", err)
		return 2
	}
	if *ready <= 0 || *stopT <= 0 {
		fmt.Fprintln(stderr, "restart: -ready-timeout and -stop-timeout must be positive")
		return 2
	}
	c, err := control.Dial(*socket)
	if err != nil {
		fmt.Fprintln(stderr, "restart:", err)
		return 2
	}
	defer c.Close()
	view, err := viewOf(ctx, c, *ca, *insecure)
	if err != nil {
		fmt.Fprintln(stderr, "restart:", err)
		return 2
	}
	defer view.Close()

	p := &SocketPlatform{Control: c, Registry: view, Env: env}
	opts := Options{ReadyTimeout: *ready, StopTimeout: *stopT,
		Log: func(e Event) { fmt.Fprintln(stdout, e) }}
	began := time.Now()
	for _, svc := range targets {
		if err := Service(ctx, p, svc, opts); err != nil {
			if p.err != nil {
				err = p.err
			}
			fmt.Fprintln(stderr, "restart:", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "restarted %s in %s\n", strings.Join(targets, ", "), time.Since(began).Round(time.Millisecond))
	return 0
}

func targetsOf(arg string) ([]string, error) {
	switch {
	case arg == "all":
		return Services, nil
	case slices.Contains(Services, arg):
		return []string{arg}, nil
	case arg == "gateway":
		return nil, errors.New("the gateway is not restarted: its port is fixed, and two gateways could share it only with SO_REUSEPORT, which kitshop's listeners do not set; stop make run (Ctrl-C) and start it again")
	case arg == "registry":
		return nil, errors.New("the registry is not restarted: it is the platform's single etcd member")
	}
	return nil, fmt.Errorf("unknown service %q (want %s or all)", arg, strings.Join(Services, ", "))
}

// viewOf finds the registry's view through the launcher (it listens where
// the launcher put it, shifted by any -port-offset).
func viewOf(ctx context.Context, c *control.Client, ca string, insecure bool) (*RegistryView, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	regs, err := c.List(ctx, "registry")
	if err != nil {
		return nil, err
	}
	if len(regs) == 0 || regs[0].HTTPAddr == "" {
		return nil, errors.New("the launcher runs no registry: nothing to count registrations with")
	}
	if insecure {
		ca = ""
	} else if _, err := os.Stat(ca); err != nil {
		return nil, fmt.Errorf("-cacert %s: %w (without TLS, pass -insecure)", ca, err)
	}
	return NewRegistryView(regs[0].HTTPAddr, ca)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error {
	*m = append(*m, v)
	return nil
}
