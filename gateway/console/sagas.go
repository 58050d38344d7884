package console

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/kit/sd"
)

// ordersService is the registry name of the process serving /debug/sagas.
const ordersService = "orders"

// maxSagasBody bounds what is read of one listing: 500 sagas (orders'
// maximum) of a few kilobytes each.
const maxSagasBody = 8 << 20

// sagaFilters are orders' /debug/sagas states, in the page's order.
var sagaFilters = []struct{ state, title string }{
	{"active", "Active"},
	{"failed", "Failed (compensated)"},
	{"attention", "Requires attention"},
}

type sagaSection struct {
	State, Title string
	Err          string
	Sagas        []sagaRow
	// Full is set when the listing filled its limit: there may be more.
	Full  bool
	Limit int
}

type sagaRow struct {
	OrderID, Kind string
	State         saga.State
	// Problem is why it compensates or requires attention.
	Problem  string
	TraceID  string
	TraceURL string
}

// debugListing is orders' /debug/sagas answer (orders/transport_http_debug.go).
type debugListing struct {
	Sagas []struct {
		OrderID string     `json:"order_id"`
		Kind    string     `json:"kind"`
		State   saga.State `json:"state"`
	} `json:"sagas"`
}

// sagas lists each state from one orders instance found in the registry,
// with the admin's own token: orders checks the role again.
func (c *console) sagas(ctx context.Context, r *http.Request) []sagaSection {
	out := make([]sagaSection, len(sagaFilters))
	for i, f := range sagaFilters {
		out[i] = sagaSection{State: f.state, Title: f.title, Limit: c.cfg.SagaLimit}
	}
	fail := func(msg string) []sagaSection {
		for i := range out {
			out[i].Err = msg
		}
		return out
	}
	if c.cfg.Etcd == nil {
		return fail(errNoRegistry + ": orders cannot be found")
	}
	token := ""
	if c.cfg.Token != nil {
		token = c.cfg.Token(r)
	}
	if token == "" {
		return fail("no access token to forward to orders (the console is not given the session's token)")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SourceTimeout)
	defer cancel()
	insts, err := sd.List(ctx, c.cfg.Etcd, ordersService)
	if err != nil {
		return fail("registry: " + sourceError(ctx, err))
	}
	if len(insts) == 0 {
		return fail("no orders instance is registered")
	}
	client := c.cfg.HTTPClient(ordersService)
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			out[i].Sagas, out[i].Err = c.listSagas(ctx, client, insts, token, out[i].State)
			out[i].Full = len(out[i].Sagas) >= c.cfg.SagaLimit
		})
	}
	wg.Wait()
	return out
}

// listSagas asks the instances in turn until one answers. An instance
// that cannot be reached, or fails, leaves the next one half of the time
// left, so one frozen instance does not take the whole bound; a refusal
// (a 4xx) would be the same from any instance and ends the search.
func (c *console) listSagas(ctx context.Context, client *http.Client, insts []sd.Instance, token, state string) ([]sagaRow, string) {
	var last string
	for i, inst := range insts {
		if ctx.Err() != nil {
			break
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if deadline, ok := ctx.Deadline(); ok && i < len(insts)-1 {
			actx, cancel = context.WithTimeout(ctx, time.Until(deadline)/2)
		}
		rows, msg, retry := c.askOrders(actx, client, inst.HTTPAddr, token, state)
		cancel()
		if !retry {
			return rows, msg
		}
		last = fmt.Sprintf("orders %s: %s", inst.HTTPAddr, msg)
	}
	if last == "" {
		last = "orders: " + sourceError(ctx, ctx.Err())
	}
	return nil, last
}

// askOrders makes one request; retry says another instance may do better.
func (c *console) askOrders(ctx context.Context, client *http.Client, addr, token, state string) (rows []sagaRow, msg string, retry bool) {
	u := url.URL{Scheme: c.cfg.HTTPScheme, Host: addr, Path: "/debug/sagas",
		RawQuery: url.Values{"state": {state}, "limit": {strconv.Itoa(c.cfg.SagaLimit)}}.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err.Error(), true
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, sourceError(ctx, err), true
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxSagasBody)
	if resp.StatusCode != http.StatusOK {
		return nil, "answered " + problemText(resp, body), resp.StatusCode >= 500
	}
	var listing debugListing
	if err := json.NewDecoder(body).Decode(&listing); err != nil {
		return nil, "unreadable listing: " + sourceError(ctx, err), true
	}
	rows = make([]sagaRow, 0, len(listing.Sagas))
	for _, s := range listing.Sagas {
		row := sagaRow{OrderID: s.OrderID, Kind: s.Kind, State: s.State, Problem: problemOf(s.State)}
		if id, ok := traceID(s.State.Trace); ok {
			row.TraceID = id
			if c.cfg.ZipkinUI != "" {
				row.TraceURL = c.cfg.ZipkinUI + "/traces/" + id
			}
		}
		rows = append(rows, row)
	}
	return rows, "", false
}

// problemOf says why a saga compensates or needs an operator.
func problemOf(st saga.State) string {
	var parts []string
	if p := st.Failure; p != nil {
		parts = append(parts, "failed at "+p.Step+": "+p.Reason)
	}
	if p := st.Attention; p != nil {
		parts = append(parts, "compensation stuck at "+p.Step+": "+p.Reason)
	}
	return strings.Join(parts, "; ")
}

// traceID is the trace id of a W3C traceparent (version-traceid-spanid-
// flags), the form kit/saga persists in State.Trace. Anything else, or
// the all-zero id the spec declares invalid, gives no link.
func traceID(traceparent string) (string, bool) {
	parts := strings.Split(traceparent, "-")
	if len(parts) < 4 || len(parts[1]) != 32 {
		return "", false
	}
	id := parts[1]
	for _, r := range id {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return "", false
		}
	}
	if strings.Trim(id, "0") == "" {
		return "", false
	}
	return id, true
}

// problemText sums up an error answer: its problem code and detail when
// it is problem+json, else its status.
func problemText(resp *http.Response, body io.Reader) string {
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
		Title  string `json:"title"`
	}
	if err := json.NewDecoder(io.LimitReader(body, maxHealthBody)).Decode(&p); err != nil || p.Code == "" {
		return resp.Status
	}
	text := resp.Status + " " + p.Code
	if d := cmp.Or(p.Detail, p.Title); d != "" {
		text += ": " + d
	}
	return text
}
