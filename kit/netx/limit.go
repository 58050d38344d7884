package netx

import (
	"container/list"
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// LimitListener is a net.Listener that keeps at most Max of its
// connections open at once. Accept never waits for room and never lets a
// connection queue: when a new connection arrives at the limit,
//
//   - the oldest connection that has not sent a single byte yet is closed
//     to make room for it: a connection that never even started its
//     handshake is the cheapest to lose and the likeliest to be abandoned
//     or hostile, and evicting it keeps a flood of silent connections from
//     locking out real clients until the handshake timeout frees them;
//   - when every open connection has spoken, the new one is closed at
//     once, so the client sees a refusal in milliseconds instead of
//     hanging in the kernel's backlog.
//
// Either way the process's file descriptors stay bounded, which is what
// kept HTTP answering while 500 idle connections were held open. The
// servers' own timeouts (HTTP ReadHeaderTimeout and IdleTimeout, gRPC's
// ConnectionTimeout and MaxConnectionIdle) close the silent and idle
// connections that stay below the limit.
type LimitListener struct {
	net.Listener
	max int

	mu     sync.Mutex
	open   int
	silent list.List // *limitedConn that have not read a byte, oldest first
	shed   atomic.Uint64
}

// Limit wraps l so that it holds at most max connections at once; max <= 0
// means DefaultMaxConns().
func Limit(l net.Listener, max int) *LimitListener {
	if max <= 0 {
		max = DefaultMaxConns()
	}
	return &LimitListener{Listener: l, max: max}
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
// and evicted silent ones.
func (l *LimitListener) Shed() uint64 { return l.shed.Load() }

// Accept returns the next connection, making room for it as described on
// LimitListener.
func (l *LimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l}
		var evict *limitedConn
		l.mu.Lock()
		if l.open >= l.max {
			front := l.silent.Front()
			if front == nil {
				l.mu.Unlock()
				l.shed.Add(1)
				_ = c.Close()
				continue
			}
			// The evicted connection's place passes to lc: marking it
			// closed here keeps its Close from freeing the place again,
			// and Open never exceeds Max, not even for an instant.
			evict = l.silent.Remove(front).(*limitedConn)
			evict.elem = nil
			evict.closed.Store(true)
		} else {
			l.open++
		}
		lc.elem = l.silent.PushBack(lc)
		l.mu.Unlock()
		if evict != nil {
			l.shed.Add(1)
			_ = evict.Conn.Close()
		}
		return lc, nil
	}
}

// spoke takes c off the eviction list: it has started talking.
func (l *LimitListener) spoke(c *limitedConn) {
	l.mu.Lock()
	if c.elem != nil {
		l.silent.Remove(c.elem)
		c.elem = nil
	}
	l.mu.Unlock()
}

// release frees c's place.
func (l *LimitListener) release(c *limitedConn) {
	l.mu.Lock()
	if c.elem != nil {
		l.silent.Remove(c.elem)
		c.elem = nil
	}
	l.open--
	l.mu.Unlock()
}

// limitedConn counts against its listener's limit until closed.
type limitedConn struct {
	net.Conn
	l      *LimitListener
	elem   *list.Element // on l.silent; guarded by l.mu
	spoken atomic.Bool
	closed atomic.Bool
}

func (c *limitedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.spoken.Load() && c.spoken.CompareAndSwap(false, true) {
		c.l.spoke(c)
	}
	return n, err
}

// Close closes the connection and frees its place once, however often it
// is called (servers and the evictor may both close it).
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c)
	}
	return err
}

// CloseWrite keeps TCP half-close available: net/http uses it to let a
// client read an error response before the connection goes away.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Unwrap returns the underlying connection, for code that needs the
// concrete type (socket options).
func (c *limitedConn) Unwrap() net.Conn { return c.Conn }
