package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The metrics catalog test reads PromQL only to find what it queries: the
// vector selectors (metric name and label matchers) and the labels the
// aggregations around them group by. A small lexer does that; the
// Prometheus module's parser would bring its whole dependency tree into
// go.mod for it.

// catalogSelector is one vector selector of a query.
type catalogSelector struct {
	metric   string
	matchers []catalogMatcher
	// groupBy are the labels of every "by (...)" aggregating the
	// selector: the series must carry them, or the panel collapses
	// into one line.
	groupBy []string
	// at is the selector's token index, to place it inside aggregations.
	at int
}

type catalogMatcher struct{ label, op, value string }

type catalogTokenKind int

const (
	catalogIdent  catalogTokenKind = iota // a name: metric, label, function, keyword
	catalogString                         // a quoted string, unquoted
	catalogNumber                         // a number or a duration
	catalogVar                            // a Grafana variable ($service, ${service})
	catalogRange                          // [5m], [1h:1m]: contents unused
	catalogPunct                          // operators and brackets
)

type catalogToken struct {
	kind catalogTokenKind
	text string
}

// catalogAggregations are PromQL's aggregation operators: followed by
// "by"/"without" rather than "(" they are still no metric.
var catalogAggregations = map[string]bool{
	"sum": true, "avg": true, "count": true, "min": true, "max": true, "group": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true,
	"count_values": true, "limitk": true, "limit_ratio": true,
}

// catalogKeywords are names that are neither metrics nor calls.
var catalogKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"inf": true, "nan": true, "atan2": true,
}

// catalogLabelLists are keywords followed by a parenthesised label list.
var catalogLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

func catalogLex(expr string) ([]catalogToken, error) {
	var out []catalogToken
	isNameStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isNameChar := func(c byte) bool { return isNameStart(c) || '0' <= c && c <= '9' }
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#': // a comment runs to the end of the line
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			var b strings.Builder
			j := i + 1
			for ; j < len(expr) && expr[j] != c; j++ {
				if expr[j] == '\\' && c != '`' && j+1 < len(expr) {
					j++
				}
				b.WriteByte(expr[j])
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, catalogToken{catalogString, b.String()})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated range at %d", i)
			}
			out = append(out, catalogToken{catalogRange, expr[i : i+j+1]})
			i += j + 1
		case c == '$':
			j := i + 1
			if j < len(expr) && expr[j] == '{' {
				k := strings.IndexByte(expr[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unterminated variable at %d", i)
				}
				j += k + 1
			} else {
				for j < len(expr) && isNameChar(expr[j]) {
					j++
				}
			}
			out = append(out, catalogToken{catalogVar, expr[i:j]})
			i = j
		case isNameStart(c):
			j := i
			for j < len(expr) && isNameChar(expr[j]) {
				j++
			}
			out = append(out, catalogToken{catalogIdent, expr[i:j]})
			i = j
		case isDigit(c) || c == '.' && i+1 < len(expr) && isDigit(expr[i+1]):
			j := i
			for j < len(expr) && (isNameChar(expr[j]) || expr[j] == '.') {
				j++
			}
			out = append(out, catalogToken{catalogNumber, expr[i:j]})
			i = j
		default:
			n := 1
			if i+1 < len(expr) && slices.Contains([]string{"=~", "!~", "!=", "==", ">=", "<="}, expr[i:i+2]) {
				n = 2
			}
			out = append(out, catalogToken{catalogPunct, expr[i : i+n]})
			i += n
		}
	}
	return out, nil
}

// catalogMatching maps each "(" and "{" token to its closing token and
// back.
func catalogMatching(toks []catalogToken) (map[int]int, error) {
	match := map[int]int{}
	var open []int
	for i, t := range toks {
		if t.kind != catalogPunct {
			continue
		}
		switch t.text {
		case "(", "{":
			open = append(open, i)
		case ")", "}":
			if len(open) == 0 {
				return nil, fmt.Errorf("unbalanced %q", t.text)
			}
			o := open[len(open)-1]
			if (toks[o].text == "(") != (t.text == ")") {
				return nil, fmt.Errorf("%q closed by %q", toks[o].text, t.text)
			}
			open = open[:len(open)-1]
			match[o], match[i] = i, o
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("unclosed %q", toks[open[0]].text)
	}
	return match, nil
}

// catalogSelectors returns the vector selectors of a PromQL expression
// (Grafana variables allowed), each with the labels its enclosing
// aggregations group by.
func catalogSelectors(expr string) ([]catalogSelector, error) {
	toks, err := catalogLex(expr)
	if err != nil {
		return nil, err
	}
	match, err := catalogMatching(toks)
	if err != nil {
		return nil, err
	}
	is := func(i int, kind catalogTokenKind, text string) bool {
		return i >= 0 && i < len(toks) && toks[i].kind == kind && toks[i].text == text
	}
	var sels []catalogSelector
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == catalogIdent:
			name := strings.ToLower(t.text)
			switch {
			case catalogLabelLists[name] && is(i+1, catalogPunct, "("):
				i = match[i+1]
			case catalogKeywords[name], is(i+1, catalogPunct, "("),
				catalogAggregations[name] && i+1 < len(toks) && catalogLabelLists[strings.ToLower(toks[i+1].text)]:
				// An operator, or a function or aggregation: its arguments
				// are read as the loop goes on.
			default:
				sel := catalogSelector{metric: t.text, at: i}
				if is(i+1, catalogPunct, "{") {
					if sel.matchers, err = catalogMatchers(toks[i+2 : match[i+1]]); err != nil {
						return nil, fmt.Errorf("%s: %w", t.text, err)
					}
					i = match[i+1]
				}
				sels = append(sels, sel)
			}
		case is(i, catalogPunct, "{"): // {__name__="x", ...}
			ms, err := catalogMatchers(toks[i+1 : match[i]])
			if err != nil {
				return nil, err
			}
			sel := catalogSelector{matchers: ms, at: i}
			for _, m := range ms {
				if m.label == "__name__" && m.op == "=" {
					sel.metric = m.value
				}
			}
			if sel.metric == "" {
				return nil, fmt.Errorf("a selector without a metric name: %q", expr)
			}
			sels = append(sels, sel)
			i = match[i]
		}
	}
	// Each "by (labels)" groups the selectors of its aggregation's
	// argument: after it in "sum by (l) (expr)", before it in
	// "sum (expr) by (l)".
	for i := range toks {
		if !is(i, catalogIdent, "by") || !is(i+1, catalogPunct, "(") {
			continue
		}
		var labels []string
		for _, t := range toks[i+2 : match[i+1]] {
			if t.kind == catalogIdent {
				labels = append(labels, t.text)
			}
		}
		var from, to int
		switch {
		case i > 0 && catalogAggregations[strings.ToLower(toks[i-1].text)] && is(match[i+1]+1, catalogPunct, "("):
			from, to = match[i+1]+1, match[match[i+1]+1]
		case is(i-1, catalogPunct, ")"):
			from, to = match[i-1], i-1
		default:
			return nil, fmt.Errorf("a by clause outside an aggregation in %q", expr)
		}
		for k := range sels {
			if from < sels[k].at && sels[k].at < to {
				sels[k].groupBy = append(sels[k].groupBy, labels...)
			}
		}
	}
	return sels, nil
}

// catalogMatchers reads `label op "value", ...`.
func catalogMatchers(toks []catalogToken) ([]catalogMatcher, error) {
	var out []catalogMatcher
	for i := 0; i < len(toks); {
		if i+2 >= len(toks) || toks[i].kind != catalogIdent || toks[i+1].kind != catalogPunct ||
			!slices.Contains([]string{"=", "!=", "=~", "!~"}, toks[i+1].text) || toks[i+2].kind != catalogString {
			return nil, fmt.Errorf("a label matcher that is not `label op \"value\"` at %v", toks[i:])
		}
		out = append(out, catalogMatcher{label: toks[i].text, op: toks[i+1].text, value: toks[i+2].text})
		i += 3
		if i < len(toks) {
			if toks[i].kind != catalogPunct || toks[i].text != "," {
				return nil, fmt.Errorf("label matchers not separated by commas at %v", toks[i:])
			}
			i++
		}
	}
	return out, nil
}

// TestCatalogSelectors pins the PromQL reading the catalog relies on: a
// name it missed would go unchecked, a label list or function read as a
// metric would fail the catalog for nothing.
func TestCatalogSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string // metric{eq matchers} by(labels)
	}{
		{`sum by (service, method) (rate(kitshop_requests_total{service=~"$service", transport="route"}[$__rate_interval]))`,
			[]string{`kitshop_requests_total{transport="route"} by(service,method)`}},
		{`histogram_quantile(0.99, sum by (service, method, le) (rate(kitshop_request_duration_seconds_bucket{transport="route"}[5m])))`,
			[]string{`kitshop_request_duration_seconds_bucket{transport="route"} by(service,method,le)`}},
		{"(sum(rate(a_total{code=~\"Internal|Unavailable\"}[1h])) or vector(0))\n/\nsum(rate(a_total[1h])) > (14.4 * 0.005)",
			[]string{`a_total{}`, `a_total{}`}},
		{`sum(rate(x_total[5m])) by (tier) / ignoring(reason) group_left(tier) max without (instance) (y{reason="idle"}) offset 5m`,
			[]string{`x_total{} by(tier)`, `y{reason="idle"}`}},
		{`min_over_time(kitshop_breaker_state[90s]) >= 1 and max_over_time(kitshop_breaker_state[90s]) == 2`,
			[]string{`kitshop_breaker_state{}`, `kitshop_breaker_state{}`}},
		{`up{job="registry"} == 0 or absent(up{job="registry"}) # a comment naming no_metric`,
			[]string{`up{job="registry"}`, `up{job="registry"}`}},
		{`count(ALERTS{alertstate="firing", alertname=~"Kitshop.+"}) or vector(0)`,
			[]string{`ALERTS{alertstate="firing"}`}},
		{`1 - slo:kitshop_request_errors:ratio_rate1h{slo="checkout"}`,
			[]string{`slo:kitshop_request_errors:ratio_rate1h{slo="checkout"}`}},
		{`{__name__="go_goroutines", service=~"${service}"} + on(instance) sum by (instance) (rate(process_cpu_seconds_total[1m:15s]))`,
			[]string{`go_goroutines{__name__="go_goroutines"}`, `process_cpu_seconds_total{} by(instance)`}},
		{`topk(5, sum by (db_name) (go_sql_in_use_connections)) > bool 1e3`,
			[]string{`go_sql_in_use_connections{} by(db_name)`}},
	} {
		sels, err := catalogSelectors(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		var got []string
		for _, s := range sels {
			var eq []string
			for _, m := range s.matchers {
				if m.op == "=" {
					eq = append(eq, m.label+`="`+m.value+`"`)
				}
			}
			g := s.metric + "{" + strings.Join(eq, ",") + "}"
			if len(s.groupBy) > 0 {
				g += " by(" + strings.Join(s.groupBy, ",") + ")"
			}
			got = append(got, g)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`sum(rate(x[5m])`, `x{a="b"`, `x{a=b}`, `x{a="b" c="d"}`, `"unterminated`} {
		if _, err := catalogSelectors(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
