// Command rollout changes which instances serve a service, without
// downtime, on a running platform (`make run`'s, or any whose registry it
// can reach):
//
//	go run ./ops/rollout restart <service|all>        replace every instance, one at a time
//	go run ./ops/rollout switch <service> <version>   blue-green: 100% to version at once
//	go run ./ops/rollout canary <service> <version>   5 → 25 → 50 → 100%, rolled back when worse
//
// Each subcommand has its own flags (-h after its name).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kitshop/kitshop/ops/rollout/canary"
	"github.com/kitshop/kitshop/ops/rollout/restart"
	switchover "github.com/kitshop/kitshop/ops/rollout/switch"
)

// commands are the subcommands; each returns its exit code.
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"restart": restart.Main,
	"switch":  switchover.Main,
	"canary":  canary.Main,
}

func main() {
	// Ctrl-C ends a canary or a restart between steps, leaving the
	// rollout document or the instances as they then are.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || commands[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: rollout restart <service|all> | switch <service> <version> | canary <service> <version>")
		if len(args) == 1 && (args[0] == "-h" || args[0] == "help") {
			return 0
		}
		return 2
	}
	return commands[args[0]](ctx, args[1:], stdout, stderr)
}
