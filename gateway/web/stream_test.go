package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// sse reads one Server-Sent Events response.
type sse struct {
	resp   *http.Response
	lines  chan string
	cancel context.CancelFunc
}

func openSSE(t *testing.T, c *http.Client, u string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sse{resp: resp, lines: make(chan string, 64), cancel: cancel}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return s
}

// next returns the next data line of an event named name, skipping the
// rest; "" when the stream ended first.
func (s *sse) next(t *testing.T, name string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	current := ""
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return ""
			}
			if ev, ok := strings.CutPrefix(l, "event: "); ok {
				current = ev
			} else if data, ok := strings.CutPrefix(l, "data: "); ok && current == name {
				return data
			}
		case <-timeout:
			t.Fatalf("no %q event within 10s", name)
			return ""
		}
	}
}

// ended waits for the server to end the stream.
func (s *sse) ended(t *testing.T) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the stream did not end within 10s")
		}
	}
}

// Stock levels reach the browser as they change; the stream ends when
// the gateway begins to drain, and nothing it started keeps running.
func TestStockStreamRelaysLevelsAndEndsOnDrain(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := newShop(t, nil)
	c := browser(t)
	get(t, c, s.url+"/")
	st := openSSE(t, c, s.url+StreamPrefix+"stock/"+productID)
	if ct := st.resp.Header.Get("Content-Type"); st.resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("%d %s", st.resp.StatusCode, ct)
	}
	for _, n := range []int64{5, 4} {
		s.stock <- &productsv1.StockLevel{ProductId: productID, Available: n}
		if got, want := st.next(t, "stock"), fmt.Sprintf(`{"available":%d}`, n); got != want {
			t.Fatalf("event %q, want available %d", got, n)
		}
	}
	close(s.draining)
	st.ended(t)
	kittest.WaitFor(t, 5*time.Second, "stream slot released", func() bool { return s.srv.OpenStreams() == 0 })
	if resp, _ := get(t, c, s.url+StreamPrefix+"stock/"+productID); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a stream opened while draining: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// A browser going away ends its stream and the backend watch under it.
func TestStreamEndsWhenTheBrowserLeaves(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := newShop(t, nil)
	c := browser(t)
	get(t, c, s.url+"/")
	st := openSSE(t, c, s.url+StreamPrefix+"stock/"+productID)
	kittest.WaitFor(t, 5*time.Second, "stream open", func() bool { return s.srv.OpenStreams() == 1 })
	st.cancel()
	kittest.WaitFor(t, 5*time.Second, "stream closed", func() bool { return s.srv.OpenStreams() == 0 })
}

// An order's states reach its owner; the end of the watch (a final
// state) ends the stream with an "end" event. Without a login there is
// no order stream.
func TestOrderStreamFollowsTheOrderForItsOwner(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := newShop(t, nil)
	c := browser(t)
	get(t, c, s.url+"/")
	if resp, _ := get(t, c, s.url+StreamPrefix+"orders/"+orderID); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous order stream: %d, want 401", resp.StatusCode)
	}
	s.login(t, c)
	st := openSSE(t, c, s.url+StreamPrefix+"orders/"+orderID)
	s.orders <- testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)
	if got := st.next(t, "order"); got != `{"status":"CONFIRMED","cancellable":true}` {
		t.Fatalf("event %s", got)
	}
	s.orders <- testOrder(ordersv1.OrderStatus_ORDER_STATUS_CANCELLED)
	if got := st.next(t, "order"); got != `{"status":"CANCELLED","cancellable":false}` {
		t.Fatalf("event %s", got)
	}
	if s.tokensSeen[len(s.tokensSeen)-1] != s.token {
		t.Fatal("WatchOrder did not carry the session's token")
	}
	close(s.orders)
	if got := st.next(t, "end"); got == "" {
		t.Fatal("no end event after the final state")
	}
	st.ended(t)
}

// Streams are bounded per session: the one past the bound is refused
// 429 with Retry-After, and a slot frees when a stream ends.
func TestStreamsAreBoundedPerSession(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := newShop(t, func(c *Config) { c.MaxStreamsPerSession = 2 })
	c := browser(t)
	get(t, c, s.url+"/")
	a := openSSE(t, c, s.url+StreamPrefix+"stock/"+productID)
	openSSE(t, c, s.url+StreamPrefix+"stock/"+productID)
	resp, _ := get(t, c, s.url+StreamPrefix+"stock/"+productID)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	other := browser(t)
	get(t, other, s.url+"/")
	if b := openSSE(t, other, s.url+StreamPrefix+"stock/"+productID); b.resp.StatusCode != http.StatusOK {
		t.Fatalf("another session's stream: %d", b.resp.StatusCode)
	}
	a.cancel()
	kittest.WaitFor(t, 5*time.Second, "a slot freed", func() bool { return s.srv.OpenStreams() == 2 })
	if d := openSSE(t, c, s.url+StreamPrefix+"stock/"+productID); d.resp.StatusCode != http.StatusOK {
		t.Fatalf("after a stream ended: %d", d.resp.StatusCode)
	}
}

// A quiet stream gets heartbeat comments, which proxies count as traffic.
func TestQuietStreamsGetHeartbeats(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := newShop(t, nil)
	s.srv.heartbeat = 20 * time.Millisecond
	c := browser(t)
	get(t, c, s.url+"/")
	st := openSSE(t, c, s.url+StreamPrefix+"stock/"+productID)
	timeout := time.After(10 * time.Second)
	for beats := 0; beats < 2; {
		select {
		case l := <-st.lines:
			if l == ": heartbeat" {
				beats++
			}
		case <-timeout:
			t.Fatal("fewer than 2 heartbeats within 10s")
		}
	}
}

// A watch the backend refuses for good (another user's order) ends with
// "end", so the browser stops reconnecting; a broken one just ends, so it
// reconnects.
func TestRefusedWatchTellsTheBrowserToStop(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := newShop(t, nil)
	c := browser(t)
	s.login(t, c)
	s.mu.Lock()
	s.watchErr = errs.New(errs.NotFound, "ORDER_NOT_FOUND", "no such order")
	s.mu.Unlock()
	st := openSSE(t, c, s.url+StreamPrefix+"orders/"+orderID)
	if got := st.next(t, "end"); got == "" {
		t.Fatal("no end event for a refused watch")
	}
	st.ended(t)

	s.mu.Lock()
	s.watchErr = errs.New(errs.Unavailable, errs.ReasonUnavailable, "instance went away")
	s.mu.Unlock()
	st = openSSE(t, c, s.url+StreamPrefix+"orders/"+orderID)
	for l := range st.lines {
		if l == "event: end" {
			t.Fatal("a broken watch told the browser to stop")
		}
	}
}
