// Command benchtable is `make bench`: it runs the benchmarks behind issue
// 11's comparison table, each as its own `go test -bench` subprocess one
// after the other (they would share the cores otherwise), measures every
// process's idle RSS on a platform started as `make run` starts it, and
// prints one table: each kitshop figure beside its peer measured in the
// same run on the same machine, its target, and whether it is met.
//
// It must run from the module's root (make does). A benchmark that fails
// leaves its rows "not measured" with the reason under the table; the
// others still run. It exits 1 when a row could not be measured, 0
// otherwise, targets met or not: the table is a measurement, not a gate.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	grpcRounds := flag.Int("grpc-rounds", 3, "rounds of the gRPC chain/bare pair; the ratio is their median")
	benchtime := flag.String("benchtime", "2s", "-benchtime of the throughput benchmarks (gRPC pair, ReserveInventory)")
	only := flag.String("only", "", "comma-separated subset of rows to measure: "+strings.Join(steps, ","))
	flag.Parse()
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !slices.Contains(steps, s) {
				fmt.Fprintf(os.Stderr, "benchtable: -only: unknown row %q (known: %s)\n", s, strings.Join(steps, ","))
				os.Exit(2)
			}
			selected[s] = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *grpcRounds, *benchtime); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// steps are the table's groups of rows, in the order they are measured.
var steps = []string{"grpc", "gateway", "checkout", "reserve", "rss", "list"}

// selected are the steps -only names; none means all.
var selected = map[string]bool{}

func want(step string) bool { return len(selected) == 0 || selected[step] }

func run(ctx context.Context, w io.Writer, grpcRounds int, benchtime string) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run from the module's root (make bench does): %w", err)
	}
	work, err := os.MkdirTemp("", "benchtable-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	start := time.Now()

	var rows []Row
	if want("grpc") {
		var rounds []Results
		var grpcErr error
		for range max(1, grpcRounds) {
			r, err := bench{pkg: "./products", pattern: "^BenchmarkGetProduct$/^(kitshop|bare-grpc)$", benchtime: benchtime, timeout: 2 * time.Minute}.run(ctx)
			rounds, grpcErr = append(rounds, r), firstErr(grpcErr, err)
		}
		rows = append(rows, grpcRow(rounds, grpcErr))
	}
	if want("gateway") {
		// A fixed load whatever -benchtime: 1x keeps it to one round.
		gw, err := bench{pkg: "./ops/e2e", pattern: "^BenchmarkGatewayGetProduct$", benchtime: "1x", timeout: 4 * time.Minute}.run(ctx)
		rows = append(rows, gatewayRows(gw, err)...)
	}
	if want("checkout") {
		co, err := bench{pkg: "./ops/e2e", pattern: "^BenchmarkCheckout$", benchtime: "1x", timeout: 4 * time.Minute}.run(ctx)
		rows = append(rows, checkoutRow(co, err))
	}
	if want("reserve") {
		// pgbench runs 5 s whatever -benchtime.
		res, err := bench{pkg: "./products", pattern: "^(BenchmarkReserveInventory|BenchmarkPgbench)$/^(single-item|reserve-sql)$",
			benchtime: benchtime, timeout: 3 * time.Minute}.run(ctx)
		rows = append(rows, reserveRow(res, err))
	}
	if want("rss") {
		rss, err := idleRSS(ctx, work)
		rows = append(rows, rssRows(rss, err)...)
	}
	if want("list") {
		list, err := bench{pkg: "./products", pattern: "^BenchmarkListProducts100k$", benchtime: "1x", timeout: 3 * time.Minute}.run(ctx)
		rows = append(rows, listRow(list, err))
	}

	fmt.Fprintf(os.Stderr, "benchtable: measured in %v\n\n", time.Since(start).Round(time.Second))
	if err := WriteTable(w, machine(), rows); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Verdict == Missing {
			return fmt.Errorf("some rows could not be measured (see the notes under the table)")
		}
	}
	return nil
}

// machine is the table's first line: what the figures were measured on.
func machine() string {
	return fmt.Sprintf("%d cores (GOMAXPROCS %d), %s %s/%s, CPU %s, %s", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, cpuModel(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown".
func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
