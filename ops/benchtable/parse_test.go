package main

import (
	"strings"
	"testing"
)

// benchOutput is go test -bench output as the benchmarks print it: a
// parent without figures, sub-benchmarks, a log between a name and its
// figures (a benchmark whose subprocesses wrote to stdout), b.Log lines
// and the trailer.
const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/kitshop/kitshop/products
cpu: AMD EPYC
BenchmarkGetProduct/kitshop-2         	   80000	     30000 ns/op	     33000 req/s	     58000 cpu-ns/op	   12000 B/op	     180 allocs/op
BenchmarkGetProduct/bare-grpc-2       	  120000	     20000 ns/op	     50000 req/s	     39000 cpu-ns/op
BenchmarkGatewayGetProduct-2   	{"level":"info","msg":"products started"}
some nginx noise
       1	10000000000 ns/op	         5.10 gw-p50-overhead-ms-at50%	  2400 gateway-req/s	 4000 direct-req/s	  4100 nginx-req/s
--- BENCH: BenchmarkGatewayGetProduct-2
    gateway_bench_test.go:93: GET /api/v1/products/{id}: saturation with 32 closed-loop workers
BenchmarkPgbench/reserve-sql-2 	       1	         0 ns/op	      2500 tps
BenchmarkBroken-2   	--- FAIL: BenchmarkBroken-2
PASS
ok  	github.com/kitshop/kitshop/products	42.1s
`

func TestParseBench(t *testing.T) {
	r, err := ParseBench(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bench, unit string
		want        float64
	}{
		{"BenchmarkGetProduct/kitshop", "req/s", 33000},
		{"BenchmarkGetProduct/kitshop", "allocs/op", 180},
		{"BenchmarkGetProduct/bare-grpc", "req/s", 50000},
		{"BenchmarkGatewayGetProduct", "gw-p50-overhead-ms-at50%", 5.10},
		{"BenchmarkGatewayGetProduct", "nginx-req/s", 4100},
		{"BenchmarkPgbench/reserve-sql", "tps", 2500},
	} {
		if got, ok := r.Metric(c.bench, c.unit); !ok || got != c.want {
			t.Errorf("%s %s = %v, %v; want %v", c.bench, c.unit, got, ok, c.want)
		}
	}
	if _, ok := r["BenchmarkBroken"]; ok {
		t.Error("a failed benchmark without figures got results")
	}
	if len(r) != 4 {
		t.Errorf("parsed %d benchmarks, want 4: %v", len(r), r)
	}
}

func TestParseBenchIgnoresNonFigureLines(t *testing.T) {
	for _, line := range []string{
		"BenchmarkX-2 1 2 ns/op extra",    // odd number of fields
		"BenchmarkX-2 many 2 ns/op",       // iterations not a number
		"BenchmarkX-2 1 fast ns/op",       // value not a number
		"    bench_test.go:12: 1 2 ns/op", // a log line
	} {
		r, err := ParseBench(strings.NewReader(line + "\n"))
		if err != nil || len(r) != 0 {
			t.Errorf("%q: got %v, %v; want nothing", line, r, err)
		}
	}
}
