// Command loadgen drives kitshop at a fixed arrival rate and reports
// latency percentiles and errors: go run ./ops/loadgen -h.
//
// It is an open loop: requests are sent when the schedule says they are
// due, whether or not earlier ones have been answered, and latency is
// counted from that due time. A closed loop (N workers each waiting for
// its answer) slows down with the server and hides its stalls: the
// coordinated omission wrk2 corrects.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: flags in, report out, an exit code back.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if err := c.validate(ctx, net.DefaultResolver); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	var s Summary
	if c.grpc {
		s, err = runGRPC(ctx, c, stderr)
	} else {
		s, err = runHTTP(ctx, c, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	s.print(stdout)
	if c.jsonOut != "" {
		if err := s.writeJSON(c.jsonOut); err != nil {
			fmt.Fprintln(stderr, "loadgen: writing -json:", err)
			return 1
		}
	}
	return 0
}
