package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// orderLogsShareItsTrace checks that one order's log lines, in every
// process it went through, carry its trace id: the per-request lines of
// gateway, orders, users, products and payments (successes log at debug,
// which checkoutPlatform turns on), the saga's transitions in orders with
// the order's id, and payments' charge. A line that names the order but
// another trace id, or none, fails the test.
func orderLogsShareItsTrace(t *testing.T, p *platform, orderID, traceID string) {
	type want struct {
		svc  string
		what string
		is   func(line map[string]any) bool
	}
	request := func(line map[string]any) bool { return line["method"] != nil && line["request_id"] != nil }
	wants := []want{
		{"gateway", "a request line", request},
		{"orders", "a request line", request},
		{"users", "a request line", request},
		{"products", "a request line", request},
		{"payments", "a request line", request},
		{"payments", "its charge", func(l map[string]any) bool { return l["msg"] == "charge attempted" && l["order_id"] == orderID }},
	}
	for _, msg := range []string{"saga step started", "saga step done", "saga finished"} {
		wants = append(wants, want{"orders", "the saga's " + msg, func(l map[string]any) bool {
			return l["msg"] == msg && l["order_id"] == orderID
		}})
	}
	var missing []string
	// Processes write their lines as they go; the last (the saga's end,
	// the answer's) may trail the response by a moment.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		missing = missing[:0]
		lines := map[string][]map[string]any{}
		for _, svc := range []string{"gateway", "orders", "users", "products", "payments"} {
			lines[svc] = logLines(t, p.procs[svc][0].log)
			for _, l := range lines[svc] {
				if l["order_id"] == orderID && l["trace_id"] != nil && l["trace_id"] != traceID {
					t.Fatalf("%s logged order %s under trace %v, want %s: %v", svc, orderID, l["trace_id"], traceID, l)
				}
			}
		}
		for _, w := range wants {
			if w.svc == "gateway" && !logsRequests(lines["gateway"]) {
				// The gateway's per-request lines (issue 9, kit/httpx)
				// are not in yet: it logs nothing of a successful
				// request. Once it logs any request, ours is required.
				continue
			}
			found := false
			for _, l := range lines[w.svc] {
				if l["trace_id"] == traceID && w.is(l) {
					found = true
					break
				}
			}
			if !found {
				missing = append(missing, fmt.Sprintf("%s: %s with trace_id %s", w.svc, w.what, traceID))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("log lines missing:\n  %s", strings.Join(missing, "\n  "))
	}
	// Work done for the order outside its request, after the fact (the
	// outbox's notification worker), runs in no trace and says so by
	// carrying no trace_id; it is listed, not failed.
	for _, svc := range []string{"gateway", "orders", "users", "products", "payments"} {
		for _, l := range logLines(t, p.procs[svc][0].log) {
			if l["order_id"] == orderID && l["trace_id"] == nil {
				t.Logf("%s logged order %s outside its trace: %v", svc, orderID, l["msg"])
			}
		}
	}
}

// logsRequests reports whether lines has any per-request line (one with
// the request's method and id).
func logsRequests(lines []map[string]any) bool {
	for _, l := range lines {
		if l["method"] != nil && l["request_id"] != nil {
			return true
		}
	}
	return false
}

// logLines decodes a process's log file, one JSON object a line; other
// lines (a panic's trace, the race detector's report) are skipped.
func logLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}
