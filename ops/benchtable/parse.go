package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Results are the metrics of every benchmark line of a `go test -bench`
// run, keyed by the benchmark's full name without its -GOMAXPROCS suffix
// (BenchmarkGetProduct/kitshop), then by unit (ns/op, req/s, p50-ms...).
type Results map[string]map[string]float64

// Metric returns one benchmark's value in one unit, and whether the run
// reported it.
func (r Results) Metric(bench, unit string) (float64, bool) {
	v, ok := r[bench][unit]
	return v, ok
}

// Merge adds other's results to r (a later run of a name replaces it).
func (r Results) Merge(other Results) {
	for name, m := range other {
		r[name] = m
	}
}

// procsSuffix is the -N testing appends to a benchmark's name when
// GOMAXPROCS is above 1.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseBench reads `go test -bench` output: lines of the form
//
//	BenchmarkName/sub-2   <iterations>   <value> <unit>   <value> <unit> ...
//
// Everything else (logs, PASS, ok, other output) is skipped. A benchmark
// whose run wrote to stdout (a subprocess it started, say) has its name
// and its figures on different lines, because testing prints the name
// before running it: a line holding only a name is remembered and joined
// to the next line that holds only figures.
func ParseBench(r io.Reader) (Results, error) {
	out := Results{}
	pending := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024) // benchmark logs can be long lines
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if strings.HasPrefix(fields[0], "Benchmark") {
			name := procsSuffix.ReplaceAllString(fields[0], "")
			if m, ok := parseFigures(fields[1:]); ok {
				out[name] = m
				pending = ""
			} else {
				pending = name
			}
			continue
		}
		if pending != "" {
			if m, ok := parseFigures(fields); ok {
				out[pending] = m
				pending = ""
			}
		}
	}
	return out, sc.Err()
}

// parseFigures reads "<iterations> <value> <unit>..." into metrics by
// unit; ok is false unless the whole line has that shape.
func parseFigures(fields []string) (map[string]float64, bool) {
	if len(fields) < 3 || len(fields)%2 == 0 {
		return nil, false
	}
	if _, err := strconv.ParseUint(fields[0], 10, 64); err != nil {
		return nil, false
	}
	m := make(map[string]float64, len(fields)/2)
	for i := 1; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return nil, false
		}
		m[fields[i+1]] = v
	}
	return m, true
}
