package pg_test

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// proxy forwards TCP connections to a backend, so a test can make the
// database appear late, vanish under a live pool, or freeze.
type proxy struct {
	backend string
	mu      sync.Mutex
	l       net.Listener
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
	// frozen holds every byte in both directions (connections stay open
	// and new ones are accepted), as a SIGSTOPped server or a silently
	// dead network path does; thawed is signalled when it ends.
	frozen bool
	thawed *sync.Cond
}

// startProxy listens on addr and forwards to backend until the test ends
// or stop is called.
func startProxy(t *testing.T, addr, backend string) *proxy {
	t.Helper()
	p, err := listenProxy(addr, backend)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

// listenProxy starts a proxy the caller must stop.
func listenProxy(addr, backend string) (*proxy, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &proxy{backend: backend, l: l, conns: map[net.Conn]bool{}}
	p.thawed = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, b) {
			return
		}
		p.wg.Add(2)
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

// track registers a connection pair unless the proxy is stopping.
func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitThawed() {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
}

// waitThawed blocks while the proxy is frozen; false means it is stopping.
func (p *proxy) waitThawed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen && p.conns != nil {
		p.thawed.Wait()
	}
	return p.conns != nil
}

// freeze stops forwarding bytes without closing anything.
func (p *proxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// thaw forwards again, starting with the bytes held meanwhile.
func (p *proxy) thaw() {
	p.mu.Lock()
	p.frozen = false
	p.mu.Unlock()
	p.thawed.Broadcast()
}

// stop closes the listener and cuts every forwarded connection, as a
// crashed server would, and waits for the proxy's goroutines.
// reset cuts every connection open now with a TCP reset, as a server
// that restarted leaves its clients' pooled connections, and keeps
// accepting new ones.
func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) stop() {
	p.mu.Lock()
	_ = p.l.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.thawed.Broadcast()
	p.wg.Wait()
}

// testDatabase creates a fresh database (pgtest.URL) and returns its name
// along with the server's credentials, for tests that build their own DSNs.
func testDatabase(t *testing.T) (pgtest.Info, string) {
	t.Helper()
	cfg, err := pq.NewConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	return pgtest.Cluster(t), cfg.Database
}

// dsnAt is a URL for database name on addr with the server's credentials.
func dsnAt(info pgtest.Info, addr, name string) string {
	u := url.URL{Scheme: "postgres", Host: addr, Path: "/" + name, RawQuery: "sslmode=disable",
		User: url.UserPassword(info.User, info.Password)}
	if info.Password == "" {
		u.User = url.User(info.User)
	}
	return u.String()
}

// serverAddr is the test server's host:port.
func serverAddr(info pgtest.Info) string {
	return net.JoinHostPort(info.Host, strconv.Itoa(info.Port))
}
