package httpx

import (
	"net"
	"net/http"
	"time"

	"github.com/kitshop/kitshop/kit/netx"
)

// Server timeouts. Without them a slow or idle client holds a connection
// and a goroutine for ever.
const (
	// ReadHeaderTimeout stops slowloris-style clients.
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout covers headers plus a body of at most MaxBodyBytes.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds a whole response. It is generous because the
	// gateway waits on downstream calls such as the checkout saga, whose
	// own deadline is shorter and turns a slow saga into a 202.
	WriteTimeout = 60 * time.Second
	// IdleTimeout closes keep-alive connections nobody uses. Each holds
	// one of the listener's places (netx.Limit), so it is short: a client
	// that made one request and went quiet gives its place back within
	// half a minute even below the limit (at the limit, TrackIdle lets the
	// listener evict it at once). Clients reconnect transparently.
	IdleTimeout = 30 * time.Second
	// MaxHeaderBytes is ample for a bearer token and tracing headers.
	MaxHeaderBytes = 64 << 10
	// MaxRequestTimeout is the longest any request may work: the router
	// from NewRouter gives every request this deadline (Handler's routes
	// and kit/rest's a shorter one, DefaultTimeout, unless they ask
	// otherwise). It stays well below WriteTimeout so that a request cut
	// off by it can still be answered 504: at WriteTimeout the connection
	// can no longer be written and the client gets an empty reply.
	MaxRequestTimeout = WriteTimeout - answerMargin
	// answerMargin is the time left, after MaxRequestTimeout, to write
	// the answer to a request that ran out of time.
	answerMargin = 10 * time.Second
)

// NewServer returns an http.Server for h on addr with every timeout set:
// a connection that sends no complete header within ReadHeaderTimeout,
// or stays idle between requests for IdleTimeout, is closed. Serve it on
// a listener from lifecycle.Listen, wrapped in netx.Limit so that the
// connections it holds are bounded too (and call TrackIdle, so that at
// the limit idle keep-alive connections make room for new clients), and
// so ":0" resolves to a real address before the instance is registered.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// TrackIdle makes srv tell l, through its ConnState hook, which of its
// connections are idle between requests and which have one in flight
// (netx.LimitListener.Mark), so that at its limit l closes the keep-alive
// connection idle longest for a new client, and never one serving a
// request. It works for HTTP/1 and HTTP/2 alike, and through a TLS
// listener on top of l. A ConnState hook srv already has still runs.
func TrackIdle(srv *http.Server, l *netx.LimitListener) {
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateActive:
			l.Mark(c, netx.ConnBusy)
		case http.StateIdle:
			l.Mark(c, netx.ConnIdle)
		case http.StateHijacked:
			// The handler owns the connection now; its reads and writes
			// tell whether it is in use.
			l.Mark(c, netx.ConnUnknown)
		}
		if prev != nil {
			prev(c, s)
		}
	}
}
