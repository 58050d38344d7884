package main

import (
	"fmt"
	"slices"
)

// The benchmarks the table reads, and the units they report (see their
// ReportMetric calls).
const (
	grpcKitshop = "BenchmarkGetProduct/kitshop"
	grpcBare    = "BenchmarkGetProduct/bare-grpc"

	gatewayBench = "BenchmarkGatewayGetProduct"
	checkout     = "BenchmarkCheckout"
	reserve      = "BenchmarkReserveInventory/single-item"
	reserveSQL   = "BenchmarkPgbench/reserve-sql"
	list100k     = "BenchmarkListProducts100k"
)

// Targets from issue 11.
const (
	grpcTarget           = 0.85 // of bare grpc-go's throughput
	gatewayDirectTarget  = 0.60 // of the direct path's throughput
	gatewayNginxTarget   = 0.80 // of nginx's throughput
	gatewayP50Target     = 1.0  // ms over direct, at 50% of direct's rate
	gatewayP99Target     = 3.0  // ms over direct, at 50% of direct's rate
	checkoutOrdersTarget = 400  // orders/s, or checkoutShareTarget of pgbench -N
	checkoutShareTarget  = 0.10
	idleRSSTarget        = 40 // MiB per service
)

// missing is a row whose figures this run could not produce.
func missing(what, target string, why error) Row {
	return Row{What: what, Measured: "-", Peer: "-", Ratio: "-", Target: target, Verdict: Missing, Note: why.Error()}
}

func verdict(ok bool) Verdict {
	if ok {
		return Met
	}
	return NotMet
}

// grpcRow compares GetProduct through the whole kitshop chain with bare
// grpc-go, from one or more rounds of the pair: the ratio is the median
// of the rounds' ratios, the throughputs those of the median round.
func grpcRow(rounds []Results, runErr error) Row {
	const what, target = "gRPC GetProduct req/s, chain vs bare grpc-go", "≥ 0.85"
	type round struct{ kit, bare, ratio float64 }
	var ok []round
	for _, r := range rounds {
		kit, ok1 := r.Metric(grpcKitshop, "req/s")
		bare, ok2 := r.Metric(grpcBare, "req/s")
		if ok1 && ok2 && bare > 0 {
			ok = append(ok, round{kit, bare, kit / bare})
		}
	}
	if len(ok) == 0 {
		if runErr == nil {
			runErr = fmt.Errorf("no req/s reported for %s and %s", grpcKitshop, grpcBare)
		}
		return missing(what, target, runErr)
	}
	slices.SortFunc(ok, func(a, b round) int {
		switch {
		case a.ratio < b.ratio:
			return -1
		case a.ratio > b.ratio:
			return 1
		}
		return 0
	})
	m := ok[len(ok)/2]
	row := Row{What: what, Measured: fmt.Sprintf("%.0f req/s", m.kit), Peer: fmt.Sprintf("bare %.0f req/s", m.bare),
		Ratio: fmt.Sprintf("%.2f", m.ratio), Target: target, Verdict: verdict(m.ratio >= grpcTarget)}
	if len(ok) > 1 {
		row.Ratio += fmt.Sprintf(" (median of %d: %.2f–%.2f)", len(ok), ok[0].ratio, ok[len(ok)-1].ratio)
	}
	return row
}

// gatewayRows compare the gateway with the direct path and with nginx, in
// throughput at saturation and latency overhead at half the direct rate.
func gatewayRows(r Results, runErr error) []Row {
	metric := func(unit string) (float64, error) {
		if v, ok := r.Metric(gatewayBench, unit); ok {
			return v, nil
		}
		if runErr != nil {
			return 0, runErr
		}
		return 0, fmt.Errorf("%s reported no %s", gatewayBench, unit)
	}
	var rows []Row
	gw, errGw := metric("gateway-req/s")
	direct, errDirect := metric("direct-req/s")
	const tput, tputTarget = "Gateway GET /products/{id} req/s vs direct", "≥ 0.60"
	if err := firstErr(errGw, errDirect); err != nil || direct <= 0 {
		rows = append(rows, missing(tput, tputTarget, orErr(err, "direct path measured 0 req/s")))
	} else {
		rows = append(rows, Row{What: tput, Measured: fmt.Sprintf("%.0f req/s", gw), Peer: fmt.Sprintf("direct %.0f req/s", direct),
			Ratio: fmt.Sprintf("%.2f", gw/direct), Target: tputTarget, Verdict: verdict(gw/direct >= gatewayDirectTarget)})
	}
	const vsNginx, nginxTarget = "Gateway req/s vs nginx reverse proxy", "≥ 0.80"
	if nginx, err := metric("nginx-req/s"); errGw != nil {
		rows = append(rows, missing(vsNginx, nginxTarget, errGw))
	} else if err != nil || nginx <= 0 {
		rows = append(rows, missing(vsNginx, nginxTarget, nginxReason(runErr)))
	} else {
		rows = append(rows, Row{What: vsNginx, Measured: fmt.Sprintf("%.0f req/s", gw), Peer: fmt.Sprintf("nginx %.0f req/s", nginx),
			Ratio: fmt.Sprintf("%.2f", gw/nginx), Target: nginxTarget, Verdict: verdict(gw/nginx >= gatewayNginxTarget)})
	}
	for _, l := range []struct {
		pct    string
		target float64
	}{{"p50", gatewayP50Target}, {"p99", gatewayP99Target}} {
		what := fmt.Sprintf("Gateway %s overhead at 50%% of direct rate", l.pct)
		target := fmt.Sprintf("≤ %.0f ms", l.target)
		over, err := metric("gw-" + l.pct + "-overhead-ms-at50%")
		if err != nil {
			rows = append(rows, missing(what, target, err))
			continue
		}
		row := Row{What: what, Measured: fmt.Sprintf("%+.2f ms", over), Peer: "direct (0)",
			Ratio: "-", Target: target, Verdict: verdict(over <= l.target)}
		// The gateway path includes the direct one (products' HTTP): when
		// it comes out faster by more than the target itself, the direct
		// path stalled under the neighbours' load and the difference says
		// nothing about the gateway.
		if over < -l.target {
			row.Verdict = Unclear
			row.Note = fmt.Sprintf("the direct path's %s was %.0f ms above the gateway's: it stalled in this run (a loaded machine); run again",
				l.pct, -over)
		}
		rows = append(rows, row)
	}
	return rows
}

// nginxReason explains a gateway run without an nginx figure.
func nginxReason(runErr error) error {
	if runErr != nil {
		return runErr
	}
	return fmt.Errorf("nginx is not installed (ops/bench-deps.sh installs it), so %s ran without the nginx path", gatewayBench)
}

// checkoutRow compares confirmed orders/s with pgbench -N on the same
// Postgres; the target is 400/s or 10% of pgbench, whichever is lower.
func checkoutRow(r Results, runErr error) Row {
	const what, target = "Checkout orders/s vs pgbench -N tps", "≥ 400 or ≥ 10% of tps"
	rate, ok1 := r.Metric(checkout, "orders/s")
	tps, ok2 := r.Metric(checkout, "pgbench-N-tps")
	if !ok1 || !ok2 {
		return missing(what, target, orErr(runErr, checkout+" reported no orders/s or pgbench-N-tps"))
	}
	measured := fmt.Sprintf("%.0f orders/s", rate)
	if p50, ok := r.Metric(checkout, "p50-ms"); ok {
		p99, _ := r.Metric(checkout, "p99-ms")
		measured += fmt.Sprintf(" (p50 %.0f ms, p99 %.0f ms)", p50, p99)
	}
	if failed, _ := r.Metric(checkout, "failed"); failed > 0 {
		measured += fmt.Sprintf(", %.0f failed", failed)
	}
	row := Row{What: what, Measured: measured, Peer: fmt.Sprintf("pgbench -N %.0f tps", tps), Target: target,
		Verdict: verdict(rate >= min(checkoutOrdersTarget, checkoutShareTarget*tps))}
	if tps > 0 {
		row.Ratio = fmt.Sprintf("%.1f%%", 100*rate/tps)
	}
	return row
}

// reserveRow compares ReserveInventory through the service with pgbench
// running the reservation's own SQL: no target, the gap is what Go,
// database/sql and the service add.
func reserveRow(r Results, runErr error) Row {
	const what = "ReserveInventory/s vs pgbench on its SQL"
	rate, ok1 := r.Metric(reserve, "reservations/s")
	tps, ok2 := r.Metric(reserveSQL, "tps")
	if !ok1 || !ok2 {
		return missing(what, "-", orErr(runErr, "no reservations/s from "+reserve+" or no tps from "+reserveSQL))
	}
	row := Row{What: what, Measured: fmt.Sprintf("%.0f reservations/s", rate), Peer: fmt.Sprintf("pgbench %.0f tps", tps), Target: "-", Verdict: Info}
	if tps > 0 {
		row.Ratio = fmt.Sprintf("%.2f", rate/tps)
	}
	return row
}

// listRow is the peak RSS of the process streaming 100k products (server
// and client together), next to its heap's growth.
func listRow(r Results, runErr error) Row {
	const what = "Peak RSS, ListProducts streaming 100k"
	rss, ok := r.Metric(list100k, "peak-rss-MiB")
	if !ok {
		return missing(what, "-", orErr(runErr, list100k+" reported no peak-rss-MiB"))
	}
	row := Row{What: what, Measured: fmt.Sprintf("%.1f MiB (server+client)", rss), Peer: "-", Ratio: "-", Target: "-", Verdict: Info}
	if heap, ok := r.Metric(list100k, "peak-heap-MiB"); ok {
		row.Peer = fmt.Sprintf("heap growth %.1f MiB", heap)
	}
	return row
}

// rssRows are each process's resident memory after idling, all held to
// the services' target (the registry too, embedded etcd and all).
func rssRows(rss []ProcessRSS, runErr error) []Row {
	const what, target = "Idle RSS per process", "< 40 MiB"
	if runErr != nil {
		return []Row{missing(what, target, runErr)}
	}
	var rows []Row
	for _, p := range rss {
		row := Row{What: "Idle RSS " + p.Name, Measured: fmt.Sprintf("%.1f MiB", p.MiB), Peer: "-", Ratio: "-", Target: target,
			Verdict: verdict(p.MiB < idleRSSTarget)}
		if p.Name == "registry" {
			row.What += " (embeds etcd)"
		}
		rows = append(rows, row)
	}
	return rows
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// orErr is err, or an error saying why when err is nil.
func orErr(err error, why string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s", why)
}
