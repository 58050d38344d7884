package main

import (
	"errors"
	"strings"
	"testing"
)

func results(t *testing.T, out string) Results {
	t.Helper()
	r, err := ParseBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGRPCRowTakesTheMedianRound(t *testing.T) {
	round := func(kit, bare string) Results {
		return results(t, "BenchmarkGetProduct/kitshop-2 10 1 ns/op "+kit+" req/s\nBenchmarkGetProduct/bare-grpc-2 10 1 ns/op "+bare+" req/s\n")
	}
	row := grpcRow([]Results{round("90", "100"), round("50", "100"), round("80", "100")}, nil)
	if row.Verdict != NotMet || !strings.HasPrefix(row.Ratio, "0.80 ") || row.Measured != "80 req/s" || row.Peer != "bare 100 req/s" {
		t.Errorf("row = %+v; want the median round, 0.80, NOT met", row)
	}
	if row := grpcRow([]Results{round("90", "100")}, nil); row.Verdict != Met || row.Ratio != "0.90" {
		t.Errorf("one round at 0.90: %+v; want met", row)
	}
	failed := errors.New("go test ./products: exit status 1")
	if row := grpcRow([]Results{{}}, failed); row.Verdict != Missing || row.Note != failed.Error() {
		t.Errorf("failed run: %+v; want not measured with the run's error", row)
	}
}

func TestGatewayRows(t *testing.T) {
	r := results(t, "BenchmarkGatewayGetProduct-2 1 1 ns/op 3000 gateway-req/s 4000 direct-req/s 3500 nginx-req/s "+
		"0.8 gw-p50-overhead-ms-at50% 4.5 gw-p99-overhead-ms-at50%\n")
	rows := gatewayRows(r, nil)
	want := []struct {
		ratio   string
		verdict Verdict
	}{{"0.75", Met}, {"0.86", Met}, {"-", Met}, {"-", NotMet}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		if rows[i].Ratio != w.ratio || rows[i].Verdict != w.verdict {
			t.Errorf("row %d = %+v; want ratio %s, %v", i, rows[i], w.ratio, w.verdict)
		}
	}
	if rows[3].Measured != "+4.50 ms" {
		t.Errorf("p99 overhead printed %q", rows[3].Measured)
	}

	stalled := results(t, "BenchmarkGatewayGetProduct-2 1 1 ns/op 3000 gateway-req/s 4000 direct-req/s "+
		"0.5 gw-p50-overhead-ms-at50% -989.2 gw-p99-overhead-ms-at50%\n")
	if row := gatewayRows(stalled, nil)[3]; row.Verdict != Unclear || !strings.Contains(row.Note, "989 ms") {
		t.Errorf("gateway 989 ms faster than direct at p99: %+v; want unclear", row)
	}

	noNginx := results(t, "BenchmarkGatewayGetProduct-2 1 1 ns/op 3000 gateway-req/s 4000 direct-req/s\n")
	if row := gatewayRows(noNginx, nil)[1]; row.Verdict != Missing || !strings.Contains(row.Note, "nginx is not installed") {
		t.Errorf("without nginx: %+v", row)
	}
}

func TestCheckoutRowTargetIsTheLowerOf400And10Percent(t *testing.T) {
	for _, c := range []struct {
		orders, tps string
		want        Verdict
	}{
		{"150", "5000", NotMet}, // below 400 and below 500 (10%)
		{"350", "3000", Met},    // below 400 but above 10% of 3000
		{"420", "9000", Met},    // above 400
	} {
		r := results(t, "BenchmarkCheckout-2 1 1 ns/op "+c.orders+" orders/s 200 p50-ms 400 p99-ms "+c.tps+" pgbench-N-tps 0 failed\n")
		if row := checkoutRow(r, nil); row.Verdict != c.want {
			t.Errorf("%s orders/s vs %s tps: %+v; want %v", c.orders, c.tps, row, c.want)
		}
	}
}

func TestRSSRows(t *testing.T) {
	rows := rssRows([]ProcessRSS{{"registry", 80}, {"users", 25.5}, {"gateway", 41}}, nil)
	if rows[0].Verdict != NotMet || rows[1].Verdict != Met || rows[2].Verdict != NotMet || rows[1].Measured != "25.5 MiB" {
		t.Errorf("rows = %+v; want registry NOT met, users met, gateway NOT met", rows)
	}
	if rows := rssRows(nil, errors.New("launcher failed")); len(rows) != 1 || rows[0].Verdict != Missing {
		t.Errorf("failed platform: %+v", rows)
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	rows := []Row{
		{What: "gRPC", Measured: "80 req/s", Peer: "bare 100 req/s", Ratio: "0.80", Target: "≥ 0.85", Verdict: NotMet},
		{What: "Idle RSS users", Measured: "25.5 MiB", Peer: "-", Ratio: "-", Target: "< 40 MiB", Verdict: Met},
		missing("Checkout", "≥ 400", errors.New("pgbench not found")),
	}
	if err := WriteTable(&b, "2 cores", rows); err != nil {
		t.Fatal(err)
	}
	want := `machine: 2 cores
row            | kitshop  | peer (same run) | ratio | target   | verdict
---------------+----------+-----------------+-------+----------+-------------
gRPC           | 80 req/s | bare 100 req/s  | 0.80  | ≥ 0.85   | NOT met
Idle RSS users | 25.5 MiB | -               | -     | < 40 MiB | met
Checkout       | -        | -               | -     | ≥ 400    | not measured
* Checkout: pgbench not found
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestStatPPID(t *testing.T) {
	if ppid, ok := statPPID("4242 (odd) name)) S 17 4242 4242 0 -1"); !ok || ppid != 17 {
		t.Errorf("ppid = %d, %v; want 17", ppid, ok)
	}
	if kb, err := statusKB("Name:\tusers\nVmRSS:\t   20480 kB\n", "VmRSS"); err != nil || kb != 20480 {
		t.Errorf("VmRSS = %v, %v", kb, err)
	}
	env := memoryStoreEnv([]string{"DATABASE_URL=x", "KITSHOP_ORDERS_DATABASE_URL=y", "HOME=/root", "KITSHOP_INSECURE=0"})
	if strings.Join(env, ",") != "HOME=/root,KITSHOP_INSECURE=0" {
		t.Errorf("memoryStoreEnv kept %v", env)
	}
}
