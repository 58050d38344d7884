package httpx

import (
	"net/http"
	"time"
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
	// IdleTimeout closes keep-alive connections nobody uses.
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes is ample for a bearer token and tracing headers.
	MaxHeaderBytes = 64 << 10
	// MaxRequestTimeout is the longest any request may work: the router
	// from NewRouter gives every request this deadline (Handler's routes
	// a shorter one, DefaultTimeout, unless they ask otherwise). Work past
	// WriteTimeout is wasted, since its answer can no longer be written.
	MaxRequestTimeout = WriteTimeout
)

// NewServer returns an http.Server for h on addr with every timeout set:
// a connection that sends no complete header within ReadHeaderTimeout,
// or stays idle between requests for IdleTimeout, is closed. Serve it on
// a listener from lifecycle.Listen, wrapped in netx.Limit so that the
// connections it holds are bounded too, and so ":0" resolves to a real
// address before the instance is registered.
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
