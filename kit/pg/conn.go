package pg

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
)

// Why this file exists: lib/pq (v1.12) honours a context only by sending
// the server a CancelRequest on a second connection when the context ends
// (conn.watchCancel). The statement's own goroutine keeps blocking in a
// socket read that has no deadline until the server answers. A server that
// never answers (SIGSTOPped, a VM paused, a proxy or NAT that silently
// stopped forwarding) therefore hangs QueryContext, ExecContext, Ping and
// BeginTx (which pq does not watch at all) forever, and the CancelRequest
// cannot help because nobody reads it. Commit and Rollback take no context.
//
// The fix lives below the driver: the connector dials every connection
// itself, keeps the net.Conn, and wraps pq's connection so that each call
// that can wait for the server arms a context.AfterFunc. When the context
// ends first, it moves the socket's deadline into the past: the blocked
// read fails at once, the call returns the caller's context error, and the
// connection is marked unusable so that database/sql closes it instead of
// returning it to the pool (pq's own bookkeeping marks it bad as well).

// expired is a deadline in the past: setting it fails every pending and
// future read and write on the socket at once.
var expired = time.Unix(1, 0)

// cancelRequestTimeout bounds a connection that pq opens to deliver a
// CancelRequest. pq reads it until the server closes it, which a frozen
// server never does.
const cancelRequestTimeout = 5 * time.Second

// closeTimeout bounds the Terminate message pq writes on Close.
const closeTimeout = time.Second

// AbandonedError is returned when a call's context ended before the
// server answered. It unwraps to the context's error (context.Canceled or
// context.DeadlineExceeded), so the caller's own deadline comes back as
// the caller's, never as a database outage; the connection it was waiting
// on has been discarded.
type AbandonedError struct {
	ctxErr     error
	cause      error
	connecting bool
}

func (e *AbandonedError) Error() string {
	var b strings.Builder
	b.WriteString("pg: ")
	var ne net.Error
	if e.cause == nil || (errors.As(e.cause, &ne) && ne.Timeout()) || errors.Is(e.cause, driver.ErrBadConn) {
		// The driver only saw the socket we cut (pq's Ping reports any
		// failure as ErrBadConn): the server said nothing.
		b.WriteString("no answer from the database")
		if e.connecting {
			b.WriteString(" while connecting")
		}
		b.WriteString(" (" + e.ctxErr.Error() + ")")
	} else {
		b.WriteString(e.ctxErr.Error() + ": " + e.cause.Error())
	}
	if !e.connecting {
		b.WriteString("; connection discarded")
	}
	return b.String()
}

// Unwrap returns the context's error.
func (e *AbandonedError) Unwrap() error { return e.ctxErr }

// Cause is what the driver reported when it was cut off (typically an i/o
// timeout on the socket), for logs.
func (e *AbandonedError) Cause() error { return e.cause }

// connector opens pq connections whose every call is bounded by its
// context; see the comment at the top of this file.
type connector struct {
	pq     *pq.Connector
	tracer *zipkin.Tracer // WithTracer's, or nil for tracing.Default
	// reached is set once Open has reached the server: only then does a
	// refused connection mean a restart worth waiting out (reconnectWindow).
	reached atomic.Bool
}

func newConnector(cfg pq.Config) (*connector, error) {
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	c.Dialer(dialer{})
	return &connector{pq: c}, nil
}

func (c *connector) Driver() driver.Driver { return c.pq.Driver() }

// reconnectWindow is how long Connect keeps trying a server that refuses
// connections or says it is starting up or shutting down, within ctx.
// Opening a connection has no side effect, so waiting is always safe, and
// it turns a restart of Postgres (a few hundred milliseconds) into slower
// statements instead of failed ones: failed ones open every caller's
// breaker, and an open breaker stays open far longer than the restart
// (chaos postgres-restart: 247 of 320 requests failed). Longer outages
// still fail, within two seconds, and are reported as they are.
const reconnectWindow = 2 * time.Second

// Reconnection back-off bounds.
const (
	firstReconnect = 25 * time.Millisecond
	maxReconnect   = 250 * time.Millisecond
)

// Connect opens a connection within ctx: the TCP dial, TLS and the startup
// handshake (authentication) all stop when ctx ends. Once Open has reached
// the server, one that refuses the connection is tried again for up to
// reconnectWindow.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	giveUp := time.Now().Add(reconnectWindow)
	delay := firstReconnect
	for {
		dc, err := c.connect(ctx)
		if err == nil || !c.reached.Load() || !refused(err) || time.Now().Add(delay).After(giveUp) {
			return dc, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		delay = min(2*delay, maxReconnect)
	}
}

// refused reports a connection the server turned away without any of it
// having been used: nobody listening (restarting), or Postgres saying it
// is starting up or shutting down (57P03).
func refused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	e := pq.As(err)
	return e != nil && e.Code == pqerror.CannotConnectNow
}

// connect is one attempt of Connect.
func (c *connector) connect(ctx context.Context) (driver.Conn, error) {
	s := &dialSlot{}
	stop := context.AfterFunc(ctx, s.expire)
	dc, err := c.pq.Connect(context.WithValue(ctx, slotKey{}, s))
	fired := !stop()
	nc := s.get()
	if err != nil {
		err = outcome(ctx, err)
		var ab *AbandonedError
		if errors.As(err, &ab) {
			ab.connecting = true
		}
		return nil, err
	}
	if fired || nc == nil {
		// Connected as ctx ended: the socket's deadline may already be
		// cut. nc == nil would mean pq dialed around our dialer, and then
		// this connection could not be bounded: refuse it rather than hang
		// later.
		_ = dc.Close()
		if ctx.Err() != nil {
			return nil, &AbandonedError{ctxErr: ctx.Err(), connecting: true}
		}
		return nil, driver.ErrBadConn
	}
	pc, ok := dc.(pqConn)
	if !ok {
		// Only a lib/pq upgrade that drops an interface gets here; fail
		// loudly rather than silently lose a capability.
		_ = dc.Close()
		return nil, fmt.Errorf("pg: %T lacks a driver interface kit/pg relies on", dc)
	}
	return &conn{pq: pc, nc: nc, tracer: c.tracer, remote: remoteEndpoint(nc)}, nil
}

// slotKey marks a dial made for Connect, as opposed to one pq makes on its
// own to send a CancelRequest.
type slotKey struct{}

// dialSlot receives the socket Connect's dial produced, so Connect can
// bound the handshake and hand the socket to the connection wrapper. pq
// may dial more than once per Connect (several hosts, an SSL fallback);
// the last socket is the one in use.
type dialSlot struct {
	mu      sync.Mutex
	nc      net.Conn
	expired bool
}

func (s *dialSlot) set(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nc = nc
	if s.expired {
		_ = nc.SetDeadline(expired)
	}
}

func (s *dialSlot) get() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nc
}

func (s *dialSlot) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired = true
	if s.nc != nil {
		_ = s.nc.SetDeadline(expired)
	}
}

// dialer is the pq.Dialer the connector installs.
type dialer struct{}

func (dialer) Dial(network, address string) (net.Conn, error) {
	return dialer{}.DialContext(context.Background(), network, address)
}

func (dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dialer{}.DialContext(ctx, network, address)
}

func (dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if s, ok := ctx.Value(slotKey{}).(*dialSlot); ok {
		s.set(nc)
		return nc, nil
	}
	// A CancelRequest connection: bound it, pq would wait for EOF forever.
	_ = nc.SetDeadline(time.Now().Add(cancelRequestTimeout))
	return nc, nil
}

// outcome turns the error of a call whose context ended into an
// AbandonedError, whatever the driver made of being cut off (an i/o
// timeout, driver.ErrBadConn, a query_canceled answer): the caller's
// context is what ended the call. driver.ErrBadConn in particular must not
// reach database/sql then, as it would retry a statement the server may
// have run.
func outcome(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	var ab *AbandonedError
	if errors.As(err, &ab) {
		return err
	}
	return &AbandonedError{ctxErr: ctx.Err(), cause: err}
}

// conn is a pq connection whose calls end when their context does. It
// implements the optional driver interfaces pq's connection does, so
// database/sql uses it exactly as it would use pq directly.
type conn struct {
	pq pqConn
	nc net.Conn
	// broken is set once a context cut the socket: the connection may be
	// mid-message and must never be used again.
	broken atomic.Bool
	// stmts are the statements with parameters this connection keeps
	// prepared (stmtcache.go); inTx is set between BEGIN and its end.
	stmts stmtCache
	inTx  bool
	// tracer and remote make statement spans (trace.go).
	tracer *zipkin.Tracer
	remote *model.Endpoint
}

// pqConn is everything pq's connection implements that database/sql uses.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// watch arms the cut-off for one call; the returned function disarms it
// and reports whether the cut happened, marking the connection broken if
// so.
func (c *conn) watch(ctx context.Context) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	stop := context.AfterFunc(ctx, c.cut)
	return func() {
		if !stop() {
			c.broken.Store(true)
		}
	}
}

// cut abandons whatever the connection is waiting for.
func (c *conn) cut() {
	c.broken.Store(true)
	_ = c.nc.SetDeadline(expired)
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	done := c.watch(ctx)
	st, err := c.pq.PrepareContext(ctx, query)
	done()
	if err != nil {
		return nil, outcome(ctx, err)
	}
	return &stmt{pq: st, c: c, query: query}, nil
}

func (c *conn) Close() error {
	// pq writes a Terminate message first; to a frozen server with a full
	// send buffer even that could block.
	if !c.broken.Load() {
		_ = c.nc.SetDeadline(time.Now().Add(closeTimeout))
	}
	return c.pq.Close()
}

// Begin is the pre-context API; database/sql always calls BeginTx.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx bounds BEGIN by ctx, and COMMIT and ROLLBACK too, which
// database/sql calls without a context: a transaction lives within the
// context it was begun with.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	sp := c.trace(ctx, "BEGIN")
	done := c.watch(ctx)
	tx, err := c.pq.BeginTx(ctx, opts)
	done()
	endTrace(sp, err)
	if err != nil {
		return nil, outcome(ctx, err)
	}
	c.inTx = true
	return &txn{pq: tx, c: c, ctx: ctx}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (res driver.Result, err error) {
	if sp := c.trace(ctx, query); sp != nil {
		defer func() { endTrace(sp, err) }()
	}
	if len(args) > 0 {
		return c.execPrepared(ctx, query, args)
	}
	// Without parameters pq uses the simple protocol, which also takes
	// several statements at once (migrations).
	done := c.watch(ctx)
	res, err = c.pq.ExecContext(ctx, query, args)
	done()
	return res, outcome(ctx, err)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if sp := c.trace(ctx, query); sp != nil {
		r, err := c.query(ctx, query, args)
		return tracedRows(sp, r, err)
	}
	return c.query(ctx, query, args)
}

func (c *conn) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		return c.queryPrepared(ctx, query, args)
	}
	stop := context.AfterFunc(ctx, c.cut)
	r, err := c.pq.QueryContext(ctx, query, args)
	if err != nil {
		if !stop() {
			c.broken.Store(true)
		}
		return nil, outcome(ctx, err)
	}
	// Rows are read from the socket until they are closed, so the
	// cut-off stays armed until then.
	return &rows{Rows: r, c: c, ctx: ctx, stop: stop}, nil
}

func (c *conn) Ping(ctx context.Context) error {
	done := c.watch(ctx)
	err := c.pq.Ping(ctx)
	done()
	return outcome(ctx, err)
}

func (c *conn) ResetSession(ctx context.Context) error {
	if c.broken.Load() {
		return driver.ErrBadConn
	}
	return c.pq.ResetSession(ctx)
}

func (c *conn) IsValid() bool {
	return !c.broken.Load() && c.pq.IsValid()
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.pq.CheckNamedValue(nv)
}

// txn bounds COMMIT and ROLLBACK by the context the transaction began
// with.
type txn struct {
	pq  driver.Tx
	c   *conn
	ctx context.Context
}

func (t *txn) Commit() error {
	t.c.inTx = false
	sp := t.c.trace(t.ctx, "COMMIT")
	done := t.c.watch(t.ctx)
	err := t.pq.Commit()
	done()
	err = outcome(t.ctx, err)
	endTrace(sp, err)
	return err
}

func (t *txn) Rollback() error {
	t.c.inTx = false
	sp := t.c.trace(t.ctx, "ROLLBACK")
	done := t.c.watch(t.ctx)
	err := t.pq.Rollback()
	done()
	err = outcome(t.ctx, err)
	endTrace(sp, err)
	return err
}

// stmt bounds a prepared statement's executions by their contexts.
type stmt struct {
	pq    driver.Stmt
	c     *conn
	query string // for its spans; empty for the statement cache's own
}

func (s *stmt) NumInput() int { return s.pq.NumInput() }

// Close deallocates the statement on the server, which takes a round trip
// and no context: it gets closeTimeout, after which the connection is
// given up rather than left hanging on a frozen server. database/sql holds
// the connection while it closes a statement, so no other call is using
// the socket's deadline meanwhile.
func (s *stmt) Close() error {
	if s.c.broken.Load() {
		return s.pq.Close() // pq does no I/O on a connection it knows is bad
	}
	_ = s.c.nc.SetDeadline(time.Now().Add(closeTimeout))
	err := s.pq.Close()
	if err != nil {
		s.c.broken.Store(true)
		return err
	}
	_ = s.c.nc.SetDeadline(time.Time{})
	return nil
}

// Exec and Query are the pre-context API; database/sql calls the Context
// variants.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (_ driver.Result, err error) {
	if s.query != "" {
		if sp := s.c.trace(ctx, s.query); sp != nil {
			defer func() { endTrace(sp, err) }()
		}
	}
	done := s.c.watch(ctx)
	var res driver.Result
	if sc, ok := s.pq.(driver.StmtExecContext); ok {
		res, err = sc.ExecContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = values(args); err == nil {
			res, err = s.pq.Exec(vals) //nolint:staticcheck // pq's COPY statement has only Exec
		}
	}
	done()
	return res, outcome(ctx, err)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if s.query != "" {
		if sp := s.c.trace(ctx, s.query); sp != nil {
			r, err := s.queryContext(ctx, args)
			return tracedRows(sp, r, err)
		}
	}
	return s.queryContext(ctx, args)
}

func (s *stmt) queryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	stop := context.AfterFunc(ctx, s.c.cut)
	var r driver.Rows
	var err error
	if sc, ok := s.pq.(driver.StmtQueryContext); ok {
		r, err = sc.QueryContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = values(args); err == nil {
			r, err = s.pq.Query(vals) //nolint:staticcheck // fallback for statements without QueryContext
		}
	}
	if err != nil {
		if !stop() {
			s.c.broken.Store(true)
		}
		return nil, outcome(ctx, err)
	}
	return &rows{Rows: r, c: s.c, ctx: ctx, stop: stop}, nil
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func values(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("pg: named parameters are not supported")
		}
		out[i] = a.Value
	}
	return out, nil
}
