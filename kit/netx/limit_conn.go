package netx

import (
	"container/list"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// limitedConn counts against its listener's limit until closed, and
// records when it last read or wrote, for choosing which connection to
// evict.
type limitedConn struct {
	net.Conn
	l *LimitListener
	// in is the list of l holding the connection (l.silent or l.spoken),
	// nil once it is closed or evicted; elem is its element there. Both
	// are guarded by l.mu.
	in   *list.List
	elem *list.Element
	// key is the connection's addresses (keyed: it has TCP ones), under
	// which l.byAddr finds it.
	key   connKey
	keyed bool
	// calls counts the calls in flight, for servers that count them
	// (LimitListener.Calls).
	calls ConnCalls

	spoken atomic.Bool
	closed atomic.Bool
	// last is when the connection last read a byte or began a write, and idleAt
	// when its server last marked it ConnIdle, both on the monotonic
	// clock; activity is its ConnActivity.
	last, idleAt atomic.Int64
	activity     atomic.Int32
}

func newLimitedConn(c net.Conn, l *LimitListener) *limitedConn {
	lc := &limitedConn{Conn: c, l: l}
	lc.key, lc.keyed = addrKey(c.LocalAddr(), c.RemoteAddr())
	lc.last.Store(monotonic())
	return lc
}

func (c *limitedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.last.Store(monotonic())
		if !c.spoken.Load() && c.spoken.CompareAndSwap(false, true) {
			c.l.spoke(c)
		}
	}
	return n, err
}

// Write stamps the connection before writing, not after: by the time the
// peer holds the bytes the stamp is there, so a peer that answers can
// never be seen as more recently active than the connection it answered
// (a stamp after the write landed late when the goroutine was preempted,
// and the eviction order flipped). A write that then blocks is a peer not
// reading, which may well count as quiet.
func (c *limitedConn) Write(b []byte) (int, error) {
	if len(b) > 0 {
		c.last.Store(monotonic())
	}
	return c.Conn.Write(b)
}

// mark records what the server said about the connection. idleAt is
// stored before the activity, so that whoever sees ConnIdle also sees
// when it began.
func (c *limitedConn) mark(a ConnActivity) {
	if a == ConnIdle {
		c.idleAt.Store(monotonic())
	}
	c.activity.Store(int32(a))
}

// idleGrace is how long a connection marked ConnIdle must have been quiet
// when it read or wrote after the mark. HTTP/2 frames written or read just
// after the last stream closed (the final DATA frame, a WINDOW_UPDATE)
// are done within milliseconds; a byte read after the mark may also be
// the next HTTP/1 request arriving before its server marks it busy, and
// its header is complete within milliseconds too, or it is a slow client
// that ReadHeaderTimeout would soon close anyway.
const idleGrace = time.Second

// parked reports whether the connection may be evicted for a newcomer at
// time now, and when it last read or wrote (older goes first):
//   - marked busy, or a call in flight: never;
//   - marked idle and entirely quiet since: yes, however recently, since
//     nothing is in flight;
//   - marked idle but not quiet since: once it has been quiet for
//     idleGrace (or quiet, if shorter);
//   - otherwise: once it has been quiet for quiet.
func (c *limitedConn) parked(now int64, quiet time.Duration) (int64, bool) {
	last := c.last.Load()
	if c.calls.inFlight() {
		return last, false
	}
	switch ConnActivity(c.activity.Load()) {
	case ConnBusy:
		return last, false
	case ConnIdle:
		if last <= c.idleAt.Load() {
			return last, true
		}
		quiet = min(quiet, idleGrace)
	}
	return last, now-last >= int64(quiet)
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

// epoch anchors monotonic: time.Since on a time.Now reading uses the
// monotonic clock, which wall-clock steps do not move.
var epoch = time.Now()

// monotonic is the time since the process started, in nanoseconds.
func monotonic() int64 { return int64(time.Since(epoch)) }
