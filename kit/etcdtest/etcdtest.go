// Package etcdtest runs a real, embedded, single-node etcd for tests, so
// discovery code is tested against etcd itself rather than a mock. The
// server can be stopped and restarted on the same address and data to
// simulate an outage that clients must survive.
package etcdtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTimeout bounds how long Start and Restart wait for the server to
// elect itself and serve. A healthy start takes well under a second.
const startTimeout = 15 * time.Second

// Server is an embedded etcd bound to loopback ports. Its methods are safe
// for concurrent use.
//
// Clients reach etcd through a small TCP proxy on the advertised client
// port. Stop cuts every proxied connection first, which is what an outage
// looks like to a client and lets etcd stop at once; without it, etcd's
// graceful stop waits several seconds for clients' watch and keepalive
// streams.
type Server struct {
	dir        string
	clientPort int // the proxy: what clients dial
	etcdPort   int // etcd's own client listener
	peerPort   int

	mu    sync.Mutex
	etcd  *embed.Etcd
	proxy *proxy
}

// Start starts a server on free loopback ports with its data in
// t.TempDir(), waits until it serves, and stops it when the test ends.
// It fails the test if etcd cannot start.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{dir: t.TempDir()}
	t.Cleanup(s.Stop)

	// Free ports are found by binding and releasing them, so another
	// process can grab one in between; a few fresh attempts make that
	// race harmless.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var ports []int
		if ports, err = freePorts(3); err != nil {
			continue
		}
		s.clientPort, s.etcdPort, s.peerPort = ports[0], ports[1], ports[2]
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("etcdtest: cannot start embedded etcd: %v", err)
	return nil
}

// Endpoints is the client address list to give clientv3 (host:port form).
func (s *Server) Endpoints() []string {
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(s.clientPort))}
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   s.Endpoints(),
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the server, as in an outage. Clients keep their connections
// and retry; Restart brings the same server back. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	e, p := s.etcd, s.proxy
	s.etcd, s.proxy = nil, nil
	s.mu.Unlock()
	if p != nil {
		p.close()
	}
	if e != nil {
		e.Close()
	}
}

// Restart starts the server again with the same data and on the same
// client port, so existing clients reconnect by themselves. A running
// server is stopped first.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	// The old listeners are closed by Stop, but give the kernel a moment
	// in case the port is briefly still held.
	deadline := time.Now().Add(startTimeout)
	for {
		if err = s.start(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcdtest: cannot restart embedded etcd: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) start() error {
	cfg := s.config()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcd failed while starting: %w", err)
	case <-time.After(startTimeout):
		e.Close()
		return errors.New("etcd did not become ready in time")
	}
	p, err := startProxy(s.Endpoints()[0], etcdAddr(s.etcdPort))
	if err != nil {
		e.Close()
		return err
	}
	s.mu.Lock()
	s.etcd, s.proxy = e, p
	s.mu.Unlock()
	return nil
}

func etcdAddr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func (s *Server) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = s.dir
	listenURL := url.URL{Scheme: "http", Host: etcdAddr(s.etcdPort)}
	clientURL := url.URL{Scheme: "http", Host: etcdAddr(s.clientPort)}
	peerURL := url.URL{Scheme: "http", Host: etcdAddr(s.peerPort)}
	cfg.ListenClientUrls = []url.URL{listenURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	// Test data is throwaway: skipping fsync makes every write (and so
	// every lease grant) fast on slow CI disks.
	cfg.UnsafeNoFsync = true
	// Shorter raft timing makes (re)election after Restart quick and lets
	// tests use 1–2 s lease TTLs (the minimum TTL is 1.5 election timeouts).
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.LogLevel = "error"
	return cfg
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return nil, fmt.Errorf("unexpected listener address %v", l.Addr())
		}
		ports = append(ports, addr.Port)
	}
	return ports, nil
}
