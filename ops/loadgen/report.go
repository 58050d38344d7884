package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms count microseconds from 1 µs to an hour with 3 significant
// digits: about 0.1% error at any scale, in a few tens of KiB each.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

// outcome is one request as the report sees it.
type outcome struct {
	route   string
	start   time.Time     // when it was due (open loop: the schedule, not the client)
	latency time.Duration // from start to the end of the response
	status  int           // HTTP status; 0 when no response came back
	code    string        // problem+json "code", a gRPC code, or a short transport error
	failed  bool
}

// errorKey is one line of "errors by status and code".
type errorKey struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
}

type routeStats struct {
	hist   *hdrhistogram.Histogram
	failed int64
}

// recorder accumulates outcomes. It is fed from one goroutine (the
// results loop), so it needs no lock.
type recorder struct {
	all        routeStats
	routes     map[string]*routeStats
	errs       map[errorKey]int64
	firstStart time.Time
	lastStart  time.Time
	lastEnd    time.Time
}

func newRecorder() *recorder {
	return &recorder{
		all:    routeStats{hist: newHist()},
		routes: map[string]*routeStats{},
		errs:   map[errorKey]int64{},
	}
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

func (r *recorder) record(o outcome) {
	rs := r.routes[o.route]
	if rs == nil {
		rs = &routeStats{hist: newHist()}
		r.routes[o.route] = rs
	}
	us := min(max(o.latency.Microseconds(), histMin), histMax)
	// RecordValue fails only outside [histMin, histMax], excluded above.
	_ = rs.hist.RecordValue(us)
	_ = r.all.hist.RecordValue(us)
	if o.failed {
		rs.failed++
		r.all.failed++
		r.errs[errorKey{o.status, o.code}]++
	}
	if r.firstStart.IsZero() || o.start.Before(r.firstStart) {
		r.firstStart = o.start
	}
	if o.start.After(r.lastStart) {
		r.lastStart = o.start
	}
	if end := o.start.Add(o.latency); end.After(r.lastEnd) {
		r.lastEnd = end
	}
}

func (r *recorder) count() int64  { return r.all.hist.TotalCount() }
func (r *recorder) failed() int64 { return r.all.failed }

// Latency is a histogram's summary in milliseconds (JSON-friendly).
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
		Mean: h.Mean() / 1000,
	}
}

// RouteSummary is one route's line of the report.
type RouteSummary struct {
	Route    string  `json:"route"`
	Requests int64   `json:"requests"`
	Failed   int64   `json:"failed"`
	Latency  Latency `json:"latency"`
}

// ErrorCount is how often one status and code came back.
type ErrorCount struct {
	errorKey
	Count int64 `json:"count"`
}

// Summary is the report: printed as a table, written as JSON by -json.
type Summary struct {
	Target     string         `json:"target"`
	Scenario   string         `json:"scenario"`
	Schedule   string         `json:"schedule"`
	Requests   int64          `json:"requests"`
	Succeeded  int64          `json:"succeeded"`
	Failed     int64          `json:"failed"`
	DurationS  float64        `json:"duration_s"` // first send to last response
	Rate       float64        `json:"rate"`       // requests/s sent
	Throughput float64        `json:"throughput"` // successful responses/s
	Latency    Latency        `json:"latency"`    // all requests, from their intended send time
	Routes     []RouteSummary `json:"routes"`     // by route, most requests first
	Errors     []ErrorCount   `json:"errors"`     // by status and code, most frequent first
	Stopped    string         `json:"stopped,omitempty"`
}

func (r *recorder) summary() Summary {
	s := Summary{
		Requests: r.count(),
		Failed:   r.failed(),
		Latency:  latencyOf(r.all.hist),
		Routes:   []RouteSummary{},
		Errors:   []ErrorCount{},
	}
	s.Succeeded = s.Requests - s.Failed
	if s.Requests > 0 {
		total := r.lastEnd.Sub(r.firstStart)
		s.DurationS = total.Seconds()
		// Like vegeta: the rate over the sending span, the throughput
		// over the whole run including the wait for the last answers.
		if span := r.lastStart.Sub(r.firstStart); span > 0 {
			s.Rate = float64(s.Requests-1) / span.Seconds()
		}
		if total > 0 {
			s.Throughput = float64(s.Succeeded) / total.Seconds()
		}
	}
	for name, rs := range r.routes {
		s.Routes = append(s.Routes, RouteSummary{name, rs.hist.TotalCount(), rs.failed, latencyOf(rs.hist)})
	}
	slices.SortFunc(s.Routes, func(a, b RouteSummary) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Route, b.Route))
	})
	for k, n := range r.errs {
		s.Errors = append(s.Errors, ErrorCount{k, n})
	}
	slices.SortFunc(s.Errors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Status, b.Status), strings.Compare(a.Code, b.Code))
	})
	return s
}

// print writes the report as a few aligned tables.
func (s Summary) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s: %s, %s\n", s.Target, s.Scenario, s.Schedule)
	if s.Stopped != "" {
		fmt.Fprintf(w, "stopped early: %s\n", s.Stopped)
	}
	okPct := 0.0
	if s.Requests > 0 {
		okPct = 100 * float64(s.Succeeded) / float64(s.Requests)
	}
	fmt.Fprintf(w, "%d requests in %.2fs: rate %.1f/s, throughput %.1f/s, %.2f%% succeeded\n\n",
		s.Requests, s.DurationS, s.Rate, s.Throughput, okPct)

	// Figures align right; names are padded to one width so that they
	// read left-aligned.
	width := len("route")
	for _, r := range s.Routes {
		width = max(width, len(r.Route))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\trequests\tfailed\tp50\tp90\tp99\tp99.9\tmax\t\n", width, "route")
	row := func(name string, n, failed int64, l Latency) {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", width, name, n, failed,
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	row("all", s.Requests, s.Failed, s.Latency)
	if len(s.Routes) > 1 {
		for _, r := range s.Routes {
			row(r.Route, r.Requests, r.Failed, r.Latency)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "(latency from each request's intended send time, so a stalled client or server shows up in it)")

	if len(s.Errors) == 0 {
		fmt.Fprintln(w, "\nno errors")
		return
	}
	fmt.Fprintln(w, "\nerrors by status and code:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range s.Errors {
		status := fmt.Sprint(e.Status)
		if e.Status == 0 {
			status = "-" // no HTTP response: a transport error or a gRPC status
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", status, cmp.Or(e.Code, "(no code)"), e.Count)
	}
	tw.Flush()
}

func ms(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

func (s Summary) writeJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
