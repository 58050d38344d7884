package sd

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/go-kit/kit/endpoint"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/errs"
)

// ErrConnsClosed is returned by Acquire after Close.
var ErrConnsClosed = errors.New("sd: connection pool closed")

// Conns shares one *grpc.ClientConn per gRPC address among every endpoint
// that talks to that address: a gRPC connection multiplexes all methods,
// so one per method would only multiply sockets and handshakes. A
// connection is reference-counted and closed when its last user releases
// it, that is, when the instance has dropped out of every method built
// on this Conns.
type Conns struct {
	dial func(addr string) (*grpc.ClientConn, error)

	mu     sync.Mutex
	conns  map[string]*sharedConn
	owned  []func() // endpointers built on this pool, stopped by Close
	closed bool
}

type sharedConn struct {
	conn *grpc.ClientConn
	refs int
	// calls in flight on conn. A connection whose instance has left
	// discovery (retired) is closed only once they have finished: closing
	// it under them would cancel requests the instance is still
	// gracefully draining.
	calls   int
	retired bool
	closed  bool
}

// NewConns returns a pool that opens connections with dial. dial must not
// block waiting for the connection (use grpc.NewClient): it is called
// while discovery updates are applied.
func NewConns(dial func(addr string) (*grpc.ClientConn, error)) *Conns {
	return &Conns{dial: dial, conns: map[string]*sharedConn{}}
}

// Acquire returns the connection to addr, dialling it on first use, and a
// Closer that releases this reference (once; later calls do nothing).
func (c *Conns) Acquire(addr string) (*grpc.ClientConn, io.Closer, error) {
	r, err := c.acquire(addr)
	if err != nil {
		return nil, nil, err
	}
	return r.sc.conn, r, nil
}

func (c *Conns) acquire(addr string) (*release, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrConnsClosed
	}
	sc, ok := c.conns[addr]
	if !ok {
		conn, err := c.dial(addr)
		if err != nil {
			return nil, err
		}
		sc = &sharedConn{conn: conn}
		c.conns[addr] = sc
	}
	sc.refs++
	return &release{conns: c, addr: addr, sc: sc}, nil
}

// Len is the number of open connections.
func (c *Conns) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

func (c *Conns) release(addr string, sc *sharedConn) error {
	c.mu.Lock()
	sc.refs--
	last := sc.refs == 0 && c.conns[addr] == sc
	if last {
		delete(c.conns, addr)
		sc.retired = true
	}
	closeNow := last && sc.calls == 0 && !sc.closed
	sc.closed = sc.closed || closeNow
	c.mu.Unlock()
	if !closeNow {
		return nil
	}
	return sc.conn.Close()
}

// track counts e's calls on sc so that retiring sc waits for them. A call
// that starts after sc was closed fails as Unavailable, which the Backend's
// retry sends to another instance.
func (c *Conns) track(sc *sharedConn, e endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		c.mu.Lock()
		if sc.closed {
			c.mu.Unlock()
			return nil, errs.New(errs.Unavailable, ReasonNoInstances, "instance left the registry")
		}
		sc.calls++
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			sc.calls--
			closeNow := sc.retired && sc.calls == 0 && !sc.closed
			sc.closed = sc.closed || closeNow
			c.mu.Unlock()
			if closeNow {
				_ = sc.conn.Close()
			}
		}()
		return e(ctx, request)
	}
}

// own makes Close stop f (an endpointer built on this pool). It reports
// false, without keeping f, once the pool is closed.
func (c *Conns) own(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.owned = append(c.owned, f)
	return true
}

// Close stops every method built on the pool from following discovery,
// then closes every connection. Calls fail from then on.
func (c *Conns) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	owned := c.owned
	c.owned = nil
	c.mu.Unlock()

	// Outside the lock: stopping an endpointer waits for discovery
	// updates in flight, and those may be calling Acquire.
	for _, stop := range owned {
		stop()
	}

	c.mu.Lock()
	conns := c.conns
	c.conns = map[string]*sharedConn{}
	for _, sc := range conns {
		sc.closed = true
	}
	c.mu.Unlock()
	var err error
	for _, sc := range conns {
		err = errors.Join(err, sc.conn.Close())
	}
	return err
}

type release struct {
	conns *Conns
	addr  string
	sc    *sharedConn
	once  sync.Once
}

func (r *release) Close() error {
	var err error
	r.once.Do(func() { err = r.conns.release(r.addr, r.sc) })
	return err
}
