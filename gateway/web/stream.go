package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/valid"
)

// Timing of the live streams (Server-Sent Events).
const (
	// heartbeatEvery sends a comment line on a quiet stream, so that
	// proxies and load balancers, which close idle connections, keep it.
	heartbeatEvery = 15 * time.Second
	// streamLifetime ends each stream before the gateway's request cap
	// (kit/httpx MaxRequestTimeout, 50 s) would cut it: the browser's
	// EventSource reconnects after reconnectAfter, and the first event of
	// a new stream is the current state, so nothing is missed.
	streamLifetime = 40 * time.Second
	reconnectAfter = 2 * time.Second
	// busyRetryAfter is the Retry-After of a stream refused by the bounds.
	busyRetryAfter = "10"
)

// streamLimits bounds the open streams: in all, and per session, so one
// browser (or a script replaying its cookie) cannot take them all.
type streamLimits struct {
	mu                sync.Mutex
	total, perSession int
	open              int
	bySession         map[string]int
}

func newStreamLimits(total, perSession int) *streamLimits {
	return &streamLimits{total: total, perSession: perSession, bySession: map[string]int{}}
}

// acquire takes a slot for session; release must follow when it did.
func (l *streamLimits) acquire(session string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.total || l.bySession[session] >= l.perSession {
		return false
	}
	l.open++
	l.bySession[session]++
	return true
}

func (l *streamLimits) release(session string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.bySession[session]--; l.bySession[session] <= 0 {
		delete(l.bySession, session)
	}
}

// Open reports the streams open now (tests, metrics).
func (s *Server) OpenStreams() int {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	return s.streams.open
}

// serveStream bridges one backend watch to the browser as Server-Sent
// Events: StreamPrefix+"stock/{product id}" (products' WatchStock, for
// anyone with a session) and StreamPrefix+"orders/{order id}" (orders'
// WatchOrder, for the order's owner). It ends when the browser goes away,
// the backend ends the watch, the gateway begins shutting down, or after
// streamLifetime.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		httpx.WriteProblem(w, r, errs.New(errs.InvalidArgument, "METHOD_NOT_ALLOWED", "only GET").WithStatus(http.StatusMethodNotAllowed))
		return
	}
	kind, id, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, StreamPrefix), "/")
	if (kind != "stock" && kind != "orders") || !valid.IsID(id) {
		httpx.WriteProblem(w, r, errs.New(errs.NotFound, errs.ReasonNotFound, "no such stream"))
		return
	}
	select {
	case <-s.cfg.Draining:
		// This instance is shutting down: the browser retries, and its
		// next connection reaches another one.
		w.Header().Set("Retry-After", "1")
		httpx.WriteProblem(w, r, errs.New(errs.Unavailable, errs.ReasonUnavailable, "shutting down"))
		return
	default:
	}
	sess := s.seal.open(r, s.now())
	if sess == nil {
		httpx.WriteProblem(w, r, errs.New(errs.Unauthenticated, errs.ReasonUnauth, "a storefront session is required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), streamLifetime)
	defer cancel()
	if kind == "orders" {
		c, err := s.cfg.Verifier.Verify(ctx, sess.Token)
		if sess.Token == "" || err != nil {
			httpx.WriteProblem(w, r, errs.New(errs.Unauthenticated, errs.ReasonUnauth, "log in to follow an order"))
			return
		}
		ctx = auth.WithToken(auth.WithClaims(ctx, c), sess.Token)
	}
	if !s.streams.acquire(sess.ID) {
		w.Header().Set("Retry-After", busyRetryAfter)
		httpx.WriteProblem(w, r, errs.New(errs.ResourceExhausted, "TOO_MANY_STREAMS", "too many live updates are open; close some tabs"))
		return
	}
	defer s.streams.release(sess.ID)

	var events <-chan event
	var err error
	if kind == "stock" {
		events, err = s.stockEvents(ctx, id)
	} else {
		events, err = s.orderEvents(ctx, id)
	}
	if err != nil {
		if errs.IsInfrastructure(err) {
			s.logError(r, "opening a live stream", err)
		}
		httpx.WriteProblem(w, r, err)
		return
	}
	s.pump(ctx, w, r, events)
}

// event is one Server-Sent Event; final ends the stream for good (the
// browser is told not to reconnect).
type event struct {
	name  string
	data  any
	final bool
}

// pump writes events, and a heartbeat when there are none, until one of
// the stream's ends.
func (s *Server) pump(ctx context.Context, w http.ResponseWriter, r *http.Request, events <-chan event) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// nginx buffers responses unless told not to.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(frame string) bool {
		// The server's WriteTimeout counts from the request's start; each
		// write gets its own deadline instead.
		_ = rc.SetWriteDeadline(time.Now().Add(s.heartbeat))
		if _, err := io.WriteString(w, frame); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(fmt.Sprintf("retry: %d\n\n", reconnectAfter.Milliseconds())) {
		return
	}
	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.Draining:
			return
		case <-beat.C:
			if !write(": heartbeat\n\n") {
				return
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			data, err := json.Marshal(ev.data)
			if err != nil {
				s.logError(r, "encoding a live event", err)
				return
			}
			if !write("event: " + ev.name + "\ndata: " + string(data) + "\n\n") {
				return
			}
			if ev.final {
				return
			}
		}
	}
}

type stockEvent struct {
	Available int64 `json:"available"`
}

// stockEvents opens WatchStock for product and relays its levels. The
// channel closes when the watch ends (ctx or the backend).
func (s *Server) stockEvents(ctx context.Context, product string) (<-chan event, error) {
	st, err := s.cfg.StockWatch.WatchStock(ctx, []string{product})
	if err != nil {
		return nil, err
	}
	return relay(ctx, func() (event, error) {
		l, err := st.Recv()
		if err != nil {
			return event{}, err
		}
		return event{name: "stock", data: stockEvent{Available: l.GetAvailable()}}, nil
	}), nil
}

type orderEvent struct {
	Status        string `json:"status"`
	Cancellable   bool   `json:"cancellable"`
	FailureReason string `json:"failure_reason,omitempty"`
}

// orderEvents opens WatchOrder and relays the order's states; its end
// after a final state is the stream's final event.
func (s *Server) orderEvents(ctx context.Context, id string) (<-chan event, error) {
	st, err := s.cfg.OrderWatch.WatchOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	return relay(ctx, func() (event, error) {
		o, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return event{name: "end", data: struct{}{}, final: true}, nil
		}
		if err != nil {
			return event{}, err
		}
		return event{name: "order", data: orderEvent{
			Status: orderStatus(o.GetStatus()), Cancellable: cancellable(o.GetStatus()), FailureReason: o.GetFailureReason(),
		}}, nil
	}), nil
}

// relay runs recv in a goroutine of its own (a stream's Recv blocks, and
// the pump must also watch the heartbeat, the drain and the browser),
// until recv fails, a final event, or ctx ends. ctx is the stream's: its
// cancellation, when the handler returns, ends the backend watch and so
// unblocks recv, so the goroutine never outlives the request.
func relay(ctx context.Context, recv func() (event, error)) <-chan event {
	out := make(chan event)
	go func() {
		defer close(out)
		for {
			ev, err := recv()
			if err != nil && !permanent(err) {
				// The watch broke (the backend went away, the stream's
				// time is up): the browser reconnects and starts over.
				return
			}
			if err != nil {
				// Nothing will change that: tell the browser to stop.
				ev = event{name: "end", data: struct{}{}, final: true}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
			if ev.final {
				return
			}
		}
	}()
	return out
}

// permanent reports whether a watch's error would recur on reconnecting.
func permanent(err error) bool {
	switch errs.KindOf(err) {
	case errs.NotFound, errs.PermissionDenied, errs.InvalidArgument, errs.Unauthenticated, errs.FailedPrecondition:
		return true
	}
	return false
}
