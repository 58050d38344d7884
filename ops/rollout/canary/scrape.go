package canary

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/kitshop/kitshop/kit/metrics"
)

// errorCodes are the attempt outcomes a canary is blamed for: the
// infrastructure kinds (kit/errs Kind.Infrastructure). Business answers
// (NotFound, FailedPrecondition...) and the caller's own cancellation
// are not the version's fault.
var errorCodes = map[string]bool{"Internal": true, "Unavailable": true, "DeadlineExceeded": true}

// Counts are cumulative attempt counters of one version, summed over the
// gateways: what two scrapes are subtracted to get a Sample.
type Counts struct {
	Requests, Errors float64
	// Buckets maps a histogram bucket's upper bound (le) to its
	// cumulative count.
	Buckets map[float64]float64
}

// Sub is c minus an earlier base.
func (c Counts) Sub(base Counts) Counts {
	out := Counts{Requests: c.Requests - base.Requests, Errors: c.Errors - base.Errors, Buckets: map[float64]float64{}}
	for le, n := range c.Buckets {
		out.Buckets[le] = n - base.Buckets[le]
	}
	return out
}

// Sample turns counts over a window into a Sample.
func (c Counts) Sample() Sample {
	return Sample{Requests: c.Requests, Errors: c.Errors, P99: quantile(0.99, c.Buckets)}
}

// quantile estimates q from cumulative buckets as Prometheus's
// histogram_quantile does: linear interpolation inside the bucket that
// holds the rank; NaN without observations.
func quantile(q float64, buckets map[float64]float64) float64 {
	les := make([]float64, 0, len(buckets))
	for le := range buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	if len(les) == 0 {
		return math.NaN()
	}
	total := buckets[les[len(les)-1]]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range les {
		n := buckets[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return lower // beyond the last finite bound: report that bound
			}
			if n == below {
				return le
			}
			return lower + (le-lower)*(rank-below)/(n-below)
		}
		lower, below = le, n
	}
	return lower
}

// parseAttempts reads service's attempt counts per backend version from
// one /metrics text exposition and adds them to into.
func parseAttempts(r io.Reader, service string, into map[string]*Counts) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var name string
		switch {
		case strings.HasPrefix(line, metrics.AttemptsName+"{"):
			name = metrics.AttemptsName
		case strings.HasPrefix(line, metrics.AttemptDurationName+"_bucket{"):
			name = metrics.AttemptDurationName + "_bucket"
		default:
			continue
		}
		labels, value, err := parseSample(line[len(name):])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if labels["backend"] != service {
			continue
		}
		version := labels[metrics.LabelBackendVersion]
		c := into[version]
		if c == nil {
			c = &Counts{Buckets: map[float64]float64{}}
			into[version] = c
		}
		if name == metrics.AttemptsName {
			if labels["code"] == "Canceled" {
				continue // the caller gave up: says nothing of the version
			}
			c.Requests += value
			if errorCodes[labels["code"]] {
				c.Errors += value
			}
			continue
		}
		le, err := strconv.ParseFloat(labels["le"], 64)
		if err != nil {
			return fmt.Errorf("bucket bound %q: %w", labels["le"], err)
		}
		c.Buckets[le] += value
	}
	return sc.Err()
}

// parseSample parses `{a="x",b="y"} 12.5` (the text format's label set
// and value; a timestamp after the value is ignored).
func parseSample(s string) (map[string]string, float64, error) {
	if !strings.HasPrefix(s, "{") {
		return nil, 0, fmt.Errorf("no label set in %q", s)
	}
	labels := map[string]string{}
	i := 1
	for i < len(s) && s[i] != '}' {
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 || i+eq+1 >= len(s) || s[i+eq+1] != '"' {
			return nil, 0, fmt.Errorf("malformed labels in %q", s)
		}
		key := s[i : i+eq]
		j := i + eq + 2
		var val strings.Builder
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[j])
				}
				continue
			}
			val.WriteByte(s[j])
		}
		if j >= len(s) {
			return nil, 0, fmt.Errorf("unterminated label value in %q", s)
		}
		labels[key] = val.String()
		i = j + 1
		if i < len(s) && s[i] == ',' {
			i++
		}
	}
	if i >= len(s) {
		return nil, 0, fmt.Errorf("unterminated label set in %q", s)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) == 0 {
		return nil, 0, fmt.Errorf("no value in %q", s)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return labels, v, err
}

// scrapeGateways reads service's attempt counts by version from each
// gateway's /metrics at urls, keyed by url. A gateway that cannot be read
// fails the scrape: judging on part of the traffic could pass a canary
// that fails on the gateway not read.
func scrapeGateways(ctx context.Context, client *http.Client, urls []string, service string) (map[string]map[string]*Counts, error) {
	out := map[string]map[string]*Counts{}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("scraping %s: %w", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("scraping %s: %s", u, resp.Status)
		}
		byVersion := map[string]*Counts{}
		err = parseAttempts(io.LimitReader(resp.Body, 32<<20), service, byVersion)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("scraping %s: %w", u, err)
		}
		out[u] = byVersion
	}
	return out, nil
}

// window is the counts at the start of a step, per gateway, so that a
// step is judged on its own traffic only.
type window struct {
	base map[string]map[string]*Counts
}

// since is what each version did since the window began, summed over the
// gateways. A gateway first seen now starts its own window now; one whose
// counters went back (it restarted) counts from zero.
func (w *window) since(now map[string]map[string]*Counts) map[string]Counts {
	if w.base == nil {
		w.base = map[string]map[string]*Counts{}
	}
	out := map[string]Counts{}
	for url, versions := range now {
		base, seen := w.base[url]
		if !seen {
			w.base[url] = versions
			continue
		}
		for v, c := range versions {
			b := base[v]
			var d Counts
			if b == nil || c.Requests < b.Requests {
				d = c.Sub(Counts{})
			} else {
				d = c.Sub(*b)
			}
			acc := out[v]
			if acc.Buckets == nil {
				acc.Buckets = map[float64]float64{}
			}
			acc.Requests += d.Requests
			acc.Errors += d.Errors
			for le, n := range d.Buckets {
				acc.Buckets[le] += n
			}
			out[v] = acc
		}
	}
	return out
}
