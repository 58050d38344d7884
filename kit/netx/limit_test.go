package netx_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/netx"
)

// sink serves l by echoing every connection until it closes; a silent
// client leaves it waiting, as a server waits for a handshake.
func sink(t *testing.T, l net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
	})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByPeer reports whether the server closed c, waiting up to d.
func closedByPeer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func listen(t *testing.T, max int, opts ...netx.LimitOption) *netx.LimitListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return netx.Limit(ln, max, opts...)
}

// speak sends one byte on c and reads its echo, which proves the server
// has read and written on the connection.
func speak(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestLimitEvictsTheOldestSilentConnection(t *testing.T) {
	kittest.CheckGoroutines(t)
	l := listen(t, 3)
	sink(t, l)
	addr := l.Addr().String()

	silent := []net.Conn{dial(t, addr), dial(t, addr), dial(t, addr)}
	kittest.WaitFor(t, 5*time.Second, "three connections open", func() bool { return l.Open() == 3 })

	talker := dial(t, addr)
	if _, err := talker.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	if !closedByPeer(silent[0], 5*time.Second) {
		t.Fatal("the oldest silent connection was not evicted for the new one")
	}
	if closedByPeer(talker, 100*time.Millisecond) {
		t.Fatal("the new connection was closed instead of a silent one")
	}
	if closedByPeer(silent[1], 10*time.Millisecond) {
		t.Fatal("a second silent connection was evicted for one newcomer")
	}
	if n := l.Open(); n > 3 {
		t.Fatalf("Open() = %d, above the limit of 3", n)
	}
	if n := l.Shed(); n != 1 {
		t.Fatalf("Shed() = %d, want 1", n)
	}
}

// TestLimitRefusesANewConnectionWhenEveryoneIsBusy: connections that
// spoke within QuietAfter (a busy gRPC connection reads and writes) are
// never evicted; the newcomer is refused at once instead.
func TestLimitRefusesANewConnectionWhenEveryoneIsBusy(t *testing.T) {
	kittest.CheckGoroutines(t)
	l := listen(t, 2, netx.QuietAfter(time.Hour))
	sink(t, l)
	addr := l.Addr().String()
	for range 2 {
		speak(t, dial(t, addr))
	}
	late := dial(t, addr)
	begin := time.Now()
	if !closedByPeer(late, 5*time.Second) {
		t.Fatal("a connection beyond the limit was not closed")
	}
	if took := time.Since(begin); took > time.Second {
		t.Fatalf("the refused connection waited %v; it must be closed at once", took)
	}
	if n := l.Open(); n != 2 {
		t.Fatalf("Open() = %d, want 2", n)
	}
}

// TestLimitEvictsTheConnectionQuietLongest: when every connection has
// spoken and the server says nothing about them (gRPC), the one whose
// last read or write is oldest makes room, not the newcomer, and not one
// that was accepted earlier but talked since.
func TestLimitEvictsTheConnectionQuietLongest(t *testing.T) {
	kittest.CheckGoroutines(t)
	// Every connection is quiet enough at once, so only the order of
	// their last reads and writes decides.
	l := listen(t, 3, netx.QuietAfter(time.Nanosecond))
	sink(t, l)
	addr := l.Addr().String()
	conns := []net.Conn{dial(t, addr), dial(t, addr), dial(t, addr)}
	for _, c := range conns {
		speak(t, c)
	}
	speak(t, conns[0]) // the first accepted is now the most recently active

	late := dial(t, addr)
	speak(t, late)
	if !closedByPeer(conns[1], 5*time.Second) {
		t.Fatal("the connection quiet longest was not evicted for the new one")
	}
	for i, c := range []net.Conn{conns[0], conns[2]} {
		if closedByPeer(c, 10*time.Millisecond) {
			t.Fatalf("a more recently active connection (%d) was evicted", i)
		}
	}
	if n, shed := l.Open(), l.Shed(); n != 3 || shed != 1 {
		t.Fatalf("Open() = %d, Shed() = %d; want 3 and 1", n, shed)
	}
}

func TestLimitFreesPlacesOnClose(t *testing.T) {
	kittest.CheckGoroutines(t)
	l := listen(t, 2)
	sink(t, l)
	c := dial(t, l.Addr().String())
	kittest.WaitFor(t, 5*time.Second, "one connection open", func() bool { return l.Open() == 1 })
	_ = c.Close()
	kittest.WaitFor(t, 5*time.Second, "its place freed", func() bool { return l.Open() == 0 })
}

// TestIdleConnectionFloodDoesNotFreezeHTTP is the probe that froze HTTP:
// hundreds of connections that never send a byte. The listener keeps the
// process's descriptors bounded, a real request still gets through while
// they are held, and the server closes them all after its header timeout.
func TestIdleConnectionFloodDoesNotFreezeHTTP(t *testing.T) {
	kittest.CheckGoroutines(t)
	const limit, flood = 40, 300
	l := listen(t, limit)
	srv := httpx.NewServer(l.Addr().String(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.ReadHeaderTimeout = 500 * time.Millisecond // NewServer's 5 s, shortened for the test
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := l.Addr().String()

	idle := make([]net.Conn, flood)
	for i := range idle {
		idle[i] = dial(t, addr)
		if n := l.Open(); n > limit {
			t.Fatalf("%d connections open, above the limit of %d", n, limit)
		}
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("a real request during the flood: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("a real request during the flood: %d %q", resp.StatusCode, body)
	}

	for i, c := range idle {
		if !closedByPeer(c, 5*time.Second) {
			t.Fatalf("idle connection %d is still open well after the header timeout", i)
		}
	}
	kittest.WaitFor(t, 5*time.Second, "every idle connection released", func() bool { return l.Open() == 0 })
	if l.Shed() < flood-limit {
		t.Fatalf("Shed() = %d, want at least %d", l.Shed(), flood-limit)
	}
}

// TestLimitKeepsAConnectionWithACallInFlight: a connection whose server
// counts a call in flight on it (Calls) is never evicted, though it is
// the one quiet longest; once the call ends it is judged as before.
func TestLimitKeepsAConnectionWithACallInFlight(t *testing.T) {
	kittest.CheckGoroutines(t)
	l := listen(t, 2, netx.QuietAfter(time.Nanosecond))
	sink(t, l)
	addr := l.Addr().String()
	busy, other := dial(t, addr), dial(t, addr)
	speak(t, busy)
	speak(t, other)
	// The server sees the client's addresses the other way round.
	calls := l.Calls(busy.RemoteAddr(), busy.LocalAddr())
	if calls == nil {
		t.Fatal("Calls found no counter for an open connection")
	}
	if l.Calls(busy.LocalAddr(), busy.RemoteAddr()) != nil {
		t.Fatal("Calls found a connection under addresses it does not have")
	}
	calls.Begin()

	speak(t, dial(t, addr))
	if !closedByPeer(other, 5*time.Second) {
		t.Fatal("the connection without a call was not evicted for the new one")
	}
	if closedByPeer(busy, 10*time.Millisecond) {
		t.Fatal("the connection with a call in flight was evicted")
	}

	// Call over: the connection quiet longest goes first again.
	calls.End()
	speak(t, dial(t, addr))
	if !closedByPeer(busy, 5*time.Second) {
		t.Fatal("the connection quiet longest was kept after its call ended")
	}
	if l.Calls(busy.RemoteAddr(), busy.LocalAddr()) != nil {
		t.Fatal("Calls still finds an evicted connection")
	}
}
