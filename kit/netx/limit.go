package netx

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQuietAfter is how long a connection whose server says nothing
// about it (see Mark) must have neither read nor written before it counts
// as parked, and may be closed to make room for a newcomer. A kitshop gRPC
// client pings at least every 30 s and a server pings a quiet peer every
// minute, so real connections are seldom quiet for long; one that made a
// single request and sits on its place is.
const DefaultQuietAfter = 10 * time.Second

// LimitListener is a net.Listener that keeps at most Max of its
// connections open at once. Accept never waits for room and never lets a
// connection queue: when a new connection arrives at the limit, it closes
// the connection least likely to be missed, in this order:
//
//  1. the oldest connection that has not sent a single byte yet: one that
//     never even started its handshake is the cheapest to lose and the
//     likeliest to be abandoned or hostile, and evicting it keeps a flood
//     of silent connections from locking out real clients until the
//     handshake timeout frees them;
//  2. otherwise, of the connections that are parked, the one whose last
//     read or write is oldest. A connection is parked when its server has
//     marked it ConnIdle (an HTTP keep-alive connection between requests;
//     see Mark) and it has not read or written since, or not for a second
//     (HTTP/2 exchanges a frame or two after its last stream closes), or
//     when its server says nothing about it and it has been quiet for
//     QuietAfter. A connection marked ConnBusy (an HTTP request in
//     flight) or with a call in flight (a gRPC server counts its calls,
//     see Calls) is never closed, however long the call is quiet, and
//     neither is an unmarked one that read or wrote within QuietAfter: a
//     busy connection reads and writes, a parked one does not;
//  3. when no connection is either, the new one is closed at once, so the
//     client sees a refusal in milliseconds instead of hanging in the
//     kernel's backlog.
//
// Without step 2, clients that completed the TLS handshake (a client
// certificate is optional: the public methods need none), sent one
// request and then sat idle held every place until the servers' idle
// timeouts (HTTP's IdleTimeout, gRPC's MaxConnectionIdle of 15 minutes)
// freed them, and every new client was refused meanwhile.
//
// A client that keeps its connections busy (a byte every few seconds)
// still holds its places: telling it from a legitimate busy client takes
// a per-client limit, which a load balancer in front is the place for.
//
// In every case the process's file descriptors stay bounded. The
// servers' own timeouts (HTTP ReadHeaderTimeout and IdleTimeout, gRPC's
// ConnectionTimeout and MaxConnectionIdle) close the silent and idle
// connections that stay below the limit.
type LimitListener struct {
	net.Listener
	max   int
	quiet time.Duration

	mu     sync.Mutex
	open   int
	silent list.List // *limitedConn that have not read a byte, oldest first
	spoken list.List // *limitedConn that have, in no particular order
	// byAddr finds an open TCP connection by its addresses, for Calls.
	byAddr map[connKey]*limitedConn
	shed   atomic.Uint64
}

// LimitOption configures Limit.
type LimitOption func(*LimitListener)

// QuietAfter sets how long a connection that its server does not Mark
// must have been quiet before it may be evicted (DefaultQuietAfter when
// d <= 0).
func QuietAfter(d time.Duration) LimitOption {
	return func(l *LimitListener) {
		if d > 0 {
			l.quiet = d
		}
	}
}

// Limit wraps l so that it holds at most max connections at once; max <= 0
// means DefaultMaxConns().
func Limit(l net.Listener, max int, opts ...LimitOption) *LimitListener {
	if max <= 0 {
		max = DefaultMaxConns()
	}
	ll := &LimitListener{Listener: l, max: max, quiet: DefaultQuietAfter, byAddr: map[connKey]*limitedConn{}}
	for _, o := range opts {
		o(ll)
	}
	return ll
}

// Max is the number of connections held at most.
func (l *LimitListener) Max() int { return l.max }

// Open is the number of connections currently open.
func (l *LimitListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Shed counts the connections closed to keep within Max: refused new ones
// and evicted silent or parked ones.
func (l *LimitListener) Shed() uint64 { return l.shed.Load() }

// ConnActivity is what a server knows about one of its connections.
type ConnActivity int32

const (
	// ConnUnknown: the server says nothing; the connection is judged by
	// its reads and writes. Every connection starts so.
	ConnUnknown ConnActivity = iota
	// ConnIdle: no request in flight, as an HTTP keep-alive connection
	// waiting for its next request.
	ConnIdle
	// ConnBusy: a request in flight. The connection is never evicted.
	ConnBusy
)

// Mark tells l what c's server knows about it (net/http's ConnState hook
// calls it through httpx.TrackIdle). c is a connection l returned or one
// wrapping it, such as the *tls.Conn of a TLS listener on top of l; any
// other is ignored.
func (l *LimitListener) Mark(c net.Conn, a ConnActivity) {
	if lc := l.find(c); lc != nil {
		lc.mark(a)
	}
}

// find unwraps c down to the limitedConn of l inside it, or nil.
func (l *LimitListener) find(c net.Conn) *limitedConn {
	// Real wrappers are one or two deep; the bound keeps a wrapper that
	// returns itself from looping for ever.
	for range 8 {
		switch v := c.(type) {
		case *limitedConn:
			if v.l == l {
				return v
			}
			c = v.Conn
		case interface{ NetConn() net.Conn }: // *tls.Conn
			c = v.NetConn()
		case interface{ Unwrap() net.Conn }:
			c = v.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// ConnCalls counts the calls in flight on one connection of a
// LimitListener. While the count is above zero the connection is never
// evicted, whether or not it reads or writes: a slow call does neither.
// A nil *ConnCalls counts nothing.
type ConnCalls struct{ n atomic.Int32 }

// Begin counts a call that started on the connection.
func (c *ConnCalls) Begin() {
	if c != nil {
		c.n.Add(1)
	}
}

// End counts a call that Begin counted as finished.
func (c *ConnCalls) End() {
	if c != nil {
		c.n.Add(-1)
	}
}

func (c *ConnCalls) inFlight() bool { return c.n.Load() > 0 }

// Calls returns the call counter of the open connection of l with these
// local and remote addresses, or nil when l holds none (or they are not
// TCP addresses, which alone tell connections apart). It is for servers
// that cannot Mark their connections because they never see the
// net.Conn, only its addresses: a gRPC stats handler (see kit/grpcx)
// looks its connection up once, when the connection starts, and counts
// each call's begin and end. A connection evicted or closed meanwhile
// keeps its counter, which then counts for nothing.
func (l *LimitListener) Calls(local, remote net.Addr) *ConnCalls {
	k, ok := addrKey(local, remote)
	if !ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.byAddr[k]; c != nil {
		return &c.calls
	}
	return nil
}

// connKey is a TCP connection's addresses: unique among the open
// connections of one listener, even one bound to several addresses.
type connKey struct{ local, remote netip.AddrPort }

func addrKey(local, remote net.Addr) (connKey, bool) {
	lt, ok := local.(*net.TCPAddr)
	if !ok {
		return connKey{}, false
	}
	rt, ok := remote.(*net.TCPAddr)
	if !ok {
		return connKey{}, false
	}
	return connKey{local: lt.AddrPort(), remote: rt.AddrPort()}, true
}

// Accept returns the next connection, making room for it as described on
// LimitListener.
func (l *LimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := newLimitedConn(c, l)
		var evict *limitedConn
		l.mu.Lock()
		if l.open >= l.max {
			if evict = l.victim(); evict == nil {
				l.mu.Unlock()
				l.shed.Add(1)
				_ = c.Close()
				continue
			}
			// The evicted connection's place passes to lc: marking it
			// closed here keeps its Close from freeing the place again,
			// and Open never exceeds Max, not even for an instant.
			l.detach(evict)
			evict.closed.Store(true)
		} else {
			l.open++
		}
		lc.in, lc.elem = &l.silent, l.silent.PushBack(lc)
		if lc.keyed && l.byAddr[lc.key] == nil {
			l.byAddr[lc.key] = lc
		}
		l.mu.Unlock()
		if evict != nil {
			l.shed.Add(1)
			_ = evict.Conn.Close()
		}
		return lc, nil
	}
}

// victim picks the connection to close for a newcomer, or nil when every
// open one is busy. l.mu must be held. Finding a parked connection scans
// the open ones, which happens only at the limit and costs microseconds
// even at the largest DefaultMaxConns.
func (l *LimitListener) victim() *limitedConn {
	if front := l.silent.Front(); front != nil {
		return front.Value.(*limitedConn)
	}
	now := monotonic()
	var best *limitedConn
	var bestLast int64
	for e := l.spoken.Front(); e != nil; e = e.Next() {
		c := e.Value.(*limitedConn)
		if last, ok := c.parked(now, l.quiet); ok && (best == nil || last < bestLast) {
			best, bestLast = c, last
		}
	}
	return best
}

// spoke moves c from the silent connections to the spoken ones.
func (l *LimitListener) spoke(c *limitedConn) {
	l.mu.Lock()
	if c.in == &l.silent {
		l.silent.Remove(c.elem)
		c.in, c.elem = &l.spoken, l.spoken.PushBack(c)
	}
	l.mu.Unlock()
}

// detach takes c off whichever list holds it. l.mu must be held.
func (l *LimitListener) detach(c *limitedConn) {
	if c.in != nil {
		c.in.Remove(c.elem)
		c.in, c.elem = nil, nil
	}
	if c.keyed && l.byAddr[c.key] == c {
		delete(l.byAddr, c.key)
	}
}

// release frees c's place.
func (l *LimitListener) release(c *limitedConn) {
	l.mu.Lock()
	l.detach(c)
	l.open--
	l.mu.Unlock()
}
