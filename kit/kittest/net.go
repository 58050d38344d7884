package kittest

import (
	"net"
	"testing"
)

// FreeAddr returns a 127.0.0.1 address nothing listens on right now: a
// port for a process under test to bind, or a dead address that refuses
// connections. The port is released before FreeAddr returns, so another
// process could take it in between; on loopback in tests that is rare.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("close probe listener: %v", err)
	}
	return addr
}
