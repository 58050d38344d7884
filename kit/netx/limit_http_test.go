package netx_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/netx"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// httpServer is an httpx server on a limited listener, told by the server
// which connections are idle (httpx.TrackIdle), as kit/boot wires it.
// GET /quick answers at once; any other path is in flight until release
// is closed.
type httpServer struct {
	l       *netx.LimitListener
	addr    string
	idle    atomic.Int32 // connections the server has reported idle
	entered chan struct{}
	release chan struct{}
}

func serveHTTP(t *testing.T, max int, tlsConfig *tls.Config, opts ...netx.LimitOption) *httpServer {
	t.Helper()
	s := &httpServer{l: listen(t, max, opts...), entered: make(chan struct{}, 16), release: make(chan struct{})}
	s.addr = s.l.Addr().String()
	srv := httpx.NewServer(s.addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/quick" {
			s.entered <- struct{}{}
			select {
			case <-s.release:
			case <-r.Context().Done():
			}
		}
		_, _ = w.Write([]byte("ok"))
	}))
	// Set before TrackIdle, so that it runs after the listener is told.
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateIdle {
			s.idle.Add(1)
		}
	}
	httpx.TrackIdle(srv, s.l)
	var ln net.Listener = s.l
	if tlsConfig != nil {
		ln = tls.NewListener(s.l, tlsConfig)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		s.releaseAll()
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func (s *httpServer) releaseAll() {
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

// keepAlive is an HTTP/1.1 client connection that keeps its connection
// between requests, as a keep-alive pool (or an attacker) does.
type keepAlive struct {
	net.Conn
	br *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c := dial(t, addr)
	return &keepAlive{Conn: c, br: bufio.NewReader(c)}
}

func (k *keepAlive) send(t *testing.T, path string) {
	t.Helper()
	if _, err := io.WriteString(k, "GET "+path+" HTTP/1.1\r\nHost: kitshop\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

func (k *keepAlive) receive(t *testing.T) {
	t.Helper()
	_ = k.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	_ = k.SetReadDeadline(time.Time{})
}

// get makes one request on a new connection that is closed afterwards.
func get(addr string, tlsConfig *tls.Config) error {
	if tlsConfig != nil {
		// A Transport may change the config it is given (NextProtos).
		tlsConfig = tlsConfig.Clone()
	}
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsConfig}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	scheme := "http://"
	if tlsConfig != nil {
		scheme = "https://"
	}
	resp, err := client.Get(scheme + addr + "/quick")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		return errors.New(resp.Status + " " + string(body))
	}
	return nil
}

// TestHTTPIdleKeepAliveConnectionsMakeRoom is the probe: connections that
// made one request and went idle fill the limit. A new client is still
// served: the connection idle longest is evicted for it.
func TestHTTPIdleKeepAliveConnectionsMakeRoom(t *testing.T) {
	kittest.CheckGoroutines(t)
	// The default QuietAfter (10 s) is far longer than the test: only
	// the server's word that a connection is idle can make room.
	s := serveHTTP(t, 3, nil)
	parked := make([]*keepAlive, 3)
	for i := range parked {
		parked[i] = dialKeepAlive(t, s.addr)
		parked[i].send(t, "/quick")
		parked[i].receive(t)
		kittest.WaitFor(t, 5*time.Second, "the connection reported idle", func() bool { return int(s.idle.Load()) == i+1 })
	}

	if err := get(s.addr, nil); err != nil {
		t.Fatalf("a new client at the limit: %v", err)
	}
	if !closedByPeer(parked[0], 5*time.Second) {
		t.Fatal("the connection idle longest was not evicted")
	}
	for i, k := range parked[1:] {
		if closedByPeer(k, 10*time.Millisecond) {
			t.Fatalf("a second idle connection (%d) was evicted for one newcomer", i+1)
		}
		// And it still works.
		k.send(t, "/quick")
		k.receive(t)
	}
	if l := s.l; l.Open() > 3 || l.Shed() != 1 {
		t.Fatalf("Open() = %d, Shed() = %d; want at most 3 and 1", l.Open(), l.Shed())
	}
}

// TestHTTPBusyConnectionsAreNeverEvicted: with a request in flight on
// every connection the newcomer is refused promptly, however quiet the
// busy connections are (the handlers wait, and nothing is read or
// written meanwhile), and every request in flight is answered.
func TestHTTPBusyConnectionsAreNeverEvicted(t *testing.T) {
	kittest.CheckGoroutines(t)
	// Quiet at once: only the server's word that they are busy keeps
	// them.
	s := serveHTTP(t, 3, nil, netx.QuietAfter(time.Nanosecond))
	busy := make([]*keepAlive, 3)
	for i := range busy {
		busy[i] = dialKeepAlive(t, s.addr)
		busy[i].send(t, "/slow")
		<-s.entered
	}

	late := dial(t, s.addr)
	begin := time.Now()
	if !closedByPeer(late, 5*time.Second) {
		t.Fatal("a connection beyond the limit was not closed")
	}
	if took := time.Since(begin); took > time.Second {
		t.Fatalf("the refused connection waited %v; it must be closed at once", took)
	}
	s.releaseAll()
	for _, k := range busy {
		k.receive(t)
	}
	if n := s.l.Shed(); n != 1 {
		t.Fatalf("Shed() = %d, want 1", n)
	}
}

// TestHTTPIdleConnectionIsEvictedBeforeBusyOnes: a busy connection is
// never the victim while an idle one exists, even when the idle one has
// read and written more recently than the busy ones.
func TestHTTPIdleConnectionIsEvictedBeforeBusyOnes(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := serveHTTP(t, 3, nil, netx.QuietAfter(time.Nanosecond))
	busy := make([]*keepAlive, 2)
	for i := range busy {
		busy[i] = dialKeepAlive(t, s.addr)
		busy[i].send(t, "/slow")
		<-s.entered
	}
	idle := dialKeepAlive(t, s.addr)
	idle.send(t, "/quick")
	idle.receive(t)
	kittest.WaitFor(t, 5*time.Second, "the connection reported idle", func() bool { return s.idle.Load() == 1 })

	if err := get(s.addr, nil); err != nil {
		t.Fatalf("a new client at the limit: %v", err)
	}
	if !closedByPeer(idle, 5*time.Second) {
		t.Fatal("the idle connection was not evicted")
	}
	s.releaseAll()
	for _, k := range busy {
		k.receive(t)
	}
}

// TestHTTPSIdleConnectionsWithoutCertificatesMakeRoom is the probe as it
// ran: clients without a certificate (it is optional on the public port)
// complete the TLS handshake, make one HTTP/2 request and sit idle. The
// listener learns they are idle through the *tls.Conn wrapping its
// connection, and a new client is served.
func TestHTTPSIdleConnectionsWithoutCertificatesMakeRoom(t *testing.T) {
	kittest.CheckGoroutines(t)
	ca, err := tlsx.NewCA(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.Identity("users")
	if err != nil {
		t.Fatal(err)
	}
	s := serveHTTP(t, 3, id.ServerConfig())
	anonymous := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // a client without a certificate, as the probe was
	for i := range 3 {
		tr := &http.Transport{TLSClientConfig: anonymous.Clone(), ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
		resp, err := client.Get("https://" + s.addr + "/quick")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("the client spoke %s, want HTTP/2", resp.Proto)
		}
		// HTTP/2 reports a connection idle once its preface is read and
		// again when its last stream closes.
		kittest.WaitFor(t, 5*time.Second, "the connection reported idle", func() bool { return int(s.idle.Load()) == 2*(i+1) })
	}
	if n := s.l.Open(); n != 3 {
		t.Fatalf("Open() = %d, want 3", n)
	}
	// HTTP/2 exchanges a last frame or two after the stream closes, so
	// the idle connections may need a moment of quiet (about a second)
	// before they give way; the default QuietAfter (10 s) is far longer,
	// so only the server's word that they are idle can make room.
	kittest.WaitFor(t, 5*time.Second, "a new client served at the limit", func() bool {
		return get(s.addr, anonymous) == nil
	})
	if n := s.l.Open(); n > 3 {
		t.Fatalf("Open() = %d, above the limit of 3", n)
	}
}
