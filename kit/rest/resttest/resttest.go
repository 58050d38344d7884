// Package resttest is what a client package's tests of its REST mapping
// share: the coverage check against the service's descriptor, a loopback
// gRPC hop for the gateway's remote path, and a one-line request.
package resttest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kitshop/kitshop/kit/rest"
)

// CheckCoverage fails t with each of c.Problems(): a broken route, a
// method or field the mapping neither reaches nor lists with a reason, or
// a stale allow-list entry.
func CheckCoverage(t testing.TB, c rest.Coverage) {
	t.Helper()
	for _, p := range c.Problems() {
		t.Error(p)
	}
}

// ServeGRPC serves, on a loopback port, a gRPC server holding what
// register adds to it, and returns a plaintext connection to it: the hop
// between the gateway and a service, for testing RemoteAPI. When the test
// ends the connection is closed and the server stopped, and its Serve has
// returned.
func ServeGRPC(t testing.TB, register func(*grpc.Server)) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() { srv.Stop(); <-served })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Do serves one request through h and returns the recorded answer. A
// non-empty body is sent as application/json; header is name, value
// pairs, added in order (a name may repeat).
func Do(t testing.TB, h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	if len(header)%2 != 0 {
		t.Fatalf("resttest.Do: header %q is not name, value pairs", header)
	}
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
