// Command chaos runs one scripted failure against `make run`'s platform
// while ops/loadgen drives the journey mix through the gateway, prints a
// timeline of what happened and checks the invariants: `orders check`
// finds every order, reservation and payment in agreement, and the
// failed requests stay within the scenario's budget.
//
//	go run ./ops/chaos [flags] <kill|etcd-down|postgres-restart|payments-slow|partition|rolling-restart>
//
// A session, from the checkout (the same DATABASE_URL for both: `orders
// check` reads the orders database, and the scenarios that start
// instances need stores the instances share):
//
//	KITSHOP_API_KEYS=chaos:enterprise DATABASE_URL=postgres://... make run
//	DATABASE_URL=postgres://... go run ./ops/chaos -api-key chaos kill
//
// It drives the platform through the launcher's control socket
// (.run/launcher.sock): extra instances, stops, kills and pauses are the
// launcher's, so the platform does not take them for crashes. Every
// scenario leaves as many instances of each service running as it found.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
