package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/openzipkin/zipkin-go/model"

	"github.com/kitshop/kitshop/kit/tracing"
)

// zipkinCollector is a fake Zipkin v2 collector: it decodes each posted
// batch into zipkin-go's model, as a real collector would have to, and
// keeps the spans. It answers at once and keeps at most
// collectorMaxSpans spans, from batches of at most collectorMaxBody.
type zipkinCollector struct {
	url string

	mu      sync.Mutex
	spans   []model.SpanModel
	refused int // batches that were not a JSON list of spans
}

const (
	collectorMaxBody  = 8 << 20
	collectorMaxSpans = 100_000
)

func newZipkinCollector(t testing.TB) *zipkinCollector {
	c := &zipkinCollector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []model.SpanModel
		err := json.NewDecoder(http.MaxBytesReader(w, r.Body, collectorMaxBody)).Decode(&batch)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil || r.Method != http.MethodPost || r.URL.Path != "/api/v2/spans" {
			c.refused++
			http.Error(w, "not a Zipkin v2 JSON batch", http.StatusBadRequest)
			return
		}
		c.spans = append(c.spans, batch[:min(len(batch), collectorMaxSpans-len(c.spans))]...)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL + "/api/v2/spans"
	return c
}

// trace returns the spans received so far of the trace with the given
// id (32 hex digits).
func (c *zipkinCollector) trace(id string) []model.SpanModel {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []model.SpanModel
	for _, s := range c.spans {
		if s.TraceID.String() == id {
			out = append(out, s)
		}
	}
	return out
}

func (c *zipkinCollector) refusedBatches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}

// TestCheckoutObservability places orders through the gateway of a real
// platform whose processes report to a fake Zipkin collector and log at
// debug. The gateway samples nothing of its own
// (KITSHOP_TRACE_SAMPLE_RATE=0) while every backend would sample
// everything.
//
//   - An order whose caller asks for a sampled trace (traceparent ...-01)
//     is one trace: the spans of gateway, orders, users, products and
//     payments, the saga's steps and the Postgres statements, each with
//     its parent in the trace, the right kind and endpoints, a lower-case
//     name, and no parameter value in any tag.
//   - An order placed without a trace header leaves no span anywhere: the
//     edge's decision is honoured downstream, the saga included.
//   - The sampled order's log lines share its trace id in every process
//     (logs_test.go).
func TestCheckoutObservability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	col := newZipkinCollector(t)
	p := launch(t, platformConfig{instances: 1, orders: 1, gateways: 1,
		env:        []string{"KITSHOP_ZIPKIN_URL=" + col.url, "KITSHOP_LOG_LEVEL=debug"},
		gatewayEnv: []string{"KITSHOP_TRACE_SAMPLE_RATE=0"},
	})
	s := newStorefront(p, p.gatewayURL(0))
	admin := s.adminToken(t)
	buyer := s.register(t, "Traced")
	pid := s.createProduct(t, admin, 5)
	// Values the checkout sends as statement parameters: none may show
	// in a span.
	street := "742 Evergreen Terrace " + uuid.NewString()[:8]
	body := strings.Replace(frontOrder(pid, 1, cardApproved), "1 Main St", street, 1)

	unsampled := s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, body).want(t, http.StatusCreated)
	unsampledTrace := traceOf(t, unsampled.Header.Get(tracing.TraceparentHeader))

	traceID := strings.ReplaceAll(uuid.NewString(), "-", "")
	const callerSpan = "00f067aa0ba902b7"
	placed := s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, body,
		tracing.TraceparentHeader, "00-"+traceID+"-"+callerSpan+"-01").want(t, http.StatusCreated)
	if got := traceOf(t, placed.Header.Get(tracing.TraceparentHeader)); got != traceID {
		t.Fatalf("the order was placed in trace %s, want the caller's %s", got, traceID)
	}

	var spans []model.SpanModel
	t.Run("one trace per checkout", func(t *testing.T) {
		spans = checkoutTrace(t, col, traceID, callerSpan)
		for _, sp := range spans {
			for k, v := range sp.Tags {
				for _, secret := range []string{street, buyer.id, buyer.email, cardApproved, "Bearer"} {
					if strings.Contains(v, secret) {
						t.Errorf("span %q (%s) tag %s = %q carries %q", sp.Name, service(sp), k, v, secret)
					}
				}
			}
		}
		if n := col.refusedBatches(); n != 0 {
			t.Errorf("%d batches were not Zipkin v2 JSON", n)
		}
	})
	t.Run("client spans name the service they call", func(t *testing.T) {
		// Issue 9, "local and remote endpoints": a client span's remote
		// end is the callee (kit/grpcx names it from the connection),
		// not the peer in ctx as zipkin-go's handler would (the caller
		// of the server span the call is made under, or nobody).
		if len(spans) == 0 {
			t.Fatal("no trace to check: the collector received none for the checkout")
		}
		for _, callee := range spans {
			if callee.Kind != model.Server || callee.ParentID == nil {
				continue
			}
			for _, client := range spans {
				if client.ID != *callee.ParentID || client.Kind != model.Client {
					continue
				}
				if r := client.RemoteEndpoint; r == nil || r.ServiceName != service(callee) {
					t.Errorf("%s's client span %q has remote endpoint %+v, want %s", service(client), client.Name, r, service(callee))
				}
			}
		}
	})
	t.Run("the edge's sampling decision is honoured downstream", func(t *testing.T) {
		// The unsampled order's spans, had any been made, went out in
		// the same or earlier batches than the sampled one's, all of
		// which are in by now.
		if n := len(col.trace(unsampledTrace)); n != 0 {
			t.Errorf("%d spans of the order the edge did not sample:\n%s", n, spanTreeText(col.trace(unsampledTrace)))
		}
	})
	t.Run("one order's log lines share its trace id", func(t *testing.T) {
		orderLogsShareItsTrace(t, p, placed.str("id"), traceID)
	})
}

// checkoutTrace waits for the whole trace of one checkout at col and
// fails the test with what is wrong with it, if anything; it returns the
// trace's spans.
func checkoutTrace(t *testing.T, col *zipkinCollector, traceID, callerSpan string) []model.SpanModel {
	t.Helper()
	// The reporters post every second; a trace comes in as its
	// processes' batches do.
	var problems []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		problems = checkCheckoutTrace(col.trace(traceID), callerSpan)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	spans := col.trace(traceID)
	if len(problems) > 0 {
		t.Fatalf("trace %s:\n%s\n\n%s", traceID, strings.Join(problems, "\n"), spanTreeText(spans))
	}
	t.Logf("the checkout's trace, %d spans:\n%s", len(spans), spanTreeText(spans))
	return spans
}

// traceOf is the trace id of a traceparent header.
func traceOf(t testing.TB, traceparent string) string {
	t.Helper()
	sc, ok := tracing.ParseTraceparent(traceparent)
	if !ok {
		t.Fatalf("traceparent %q", traceparent)
	}
	return sc.TraceID.String()
}

func service(s model.SpanModel) string {
	if s.LocalEndpoint == nil {
		return ""
	}
	return s.LocalEndpoint.ServiceName
}

// checkCheckoutTrace lists what is wrong with, or still missing from, the
// spans of one checkout whose caller's span is callerSpan.
func checkCheckoutTrace(spans []model.SpanModel, callerSpan string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	byID := map[model.ID]model.SpanModel{}
	for _, s := range spans {
		if _, dup := byID[s.ID]; dup {
			bad("span id %s used twice", s.ID)
		}
		byID[s.ID] = s
	}
	var roots []model.SpanModel
	services := map[string]bool{}
	names := map[string]bool{}
	for _, s := range spans {
		svc := service(s)
		services[svc] = true
		names[svc+" "+s.Name] = true
		if s.ParentID == nil {
			bad("span %q (%s) has no parent: the caller's span is every span's ancestor", s.Name, svc)
		} else if _, ok := byID[*s.ParentID]; !ok {
			roots = append(roots, s)
		}
		if s.Name != strings.ToLower(s.Name) || s.Name == "" {
			bad("span name %q is not lower-case", s.Name)
		}
		if s.LocalEndpoint == nil || s.LocalEndpoint.ServiceName == "" || s.LocalEndpoint.Port == 0 {
			bad("span %q has local endpoint %+v", s.Name, s.LocalEndpoint)
		}
		switch s.Kind {
		case model.Server:
			if s.RemoteEndpoint == nil || (s.RemoteEndpoint.IPv4 == nil && s.RemoteEndpoint.IPv6 == nil) {
				bad("server span %q (%s) does not name its caller: %+v", s.Name, svc, s.RemoteEndpoint)
			}
			if parent, ok := byID[derefID(s.ParentID)]; ok && (parent.Kind != model.Client || service(parent) == svc) {
				bad("server span %q (%s) is the child of %q (%s, %s), not of another service's client span",
					s.Name, svc, parent.Name, service(parent), parent.Kind)
			}
		case model.Client:
			if strings.HasPrefix(s.Name, "sql ") && (s.RemoteEndpoint == nil || s.RemoteEndpoint.ServiceName != "postgres") {
				bad("statement span %q (%s) has remote endpoint %+v, want postgres", s.Name, svc, s.RemoteEndpoint)
			}
		case "":
		default:
			bad("span %q (%s) has kind %q", s.Name, svc, s.Kind)
		}
		if strings.HasPrefix(s.Name, "sql ") && s.Tags["sql.query"] == "" {
			bad("statement span %q (%s) has no SQL text: %v", s.Name, svc, s.Tags)
		}
	}
	switch {
	case len(roots) != 1:
		bad("%d spans with a parent outside the trace, want one (the gateway's server span)", len(roots))
	case service(roots[0]) != "gateway" || roots[0].Kind != model.Server || roots[0].ParentID.String() != callerSpan:
		bad("the root is %q (%s, %s, parent %s), want the gateway's server span under the caller's %s",
			roots[0].Name, service(roots[0]), roots[0].Kind, roots[0].ParentID, callerSpan)
	}
	for _, svc := range []string{"gateway", "orders", "users", "products", "payments"} {
		if !services[svc] {
			bad("no span of %s", svc)
		}
	}
	for _, want := range []string{
		"orders saga checkout.v1",
		"orders saga step validate_user", "orders saga step reserve", "orders saga step charge", "orders saga step commit",
		"orders sql insert orders", "products sql select products", "payments sql insert payments", "users sql select users",
	} {
		if !names[want] {
			bad("no span %q", want)
		}
	}
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "saga step ") && s.Tags["saga.step.outcome"] != "done" {
			bad("%q ended %q, want done", s.Name, s.Tags["saga.step.outcome"])
		}
	}
	return problems
}

func derefID(id *model.ID) model.ID {
	if id == nil {
		return 0
	}
	return *id
}

// spanTreeText draws spans as a tree: kind, service and name, children
// indented under their parent in start order.
func spanTreeText(spans []model.SpanModel) string {
	children := map[model.ID][]model.SpanModel{}
	ids := map[model.ID]bool{}
	for _, s := range spans {
		ids[s.ID] = true
	}
	var roots []model.SpanModel
	for _, s := range spans {
		if s.ParentID == nil || !ids[*s.ParentID] {
			roots = append(roots, s)
			continue
		}
		children[*s.ParentID] = append(children[*s.ParentID], s)
	}
	var b strings.Builder
	var walk func(s model.SpanModel, depth int)
	walk = func(s model.SpanModel, depth int) {
		kind := string(s.Kind)
		if kind == "" {
			kind = "LOCAL"
		}
		extra := ""
		if o := s.Tags["saga.step.outcome"]; o != "" {
			extra = " [" + o + "]"
		}
		if r := s.RemoteEndpoint; r != nil {
			extra += fmt.Sprintf(" -> %s %s:%d", r.ServiceName, r.IPv4, r.Port)
		}
		fmt.Fprintf(&b, "%s%-6s %-8s %s%s\n", strings.Repeat("  ", depth), kind, service(s), s.Name, extra)
		kids := children[s.ID]
		sort.Slice(kids, func(i, j int) bool { return kids[i].Timestamp.Before(kids[j].Timestamp) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	slices.SortFunc(roots, func(a, b model.SpanModel) int { return a.Timestamp.Compare(b.Timestamp) })
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}
