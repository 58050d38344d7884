// Package resttest is what a client package's tests of its REST mapping
// share: the coverage check against the service's descriptor, a loopback
// gRPC hop for the gateway's remote path, a caller in the request context,
// and a one-line request.
package resttest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
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
// between the gateway and a service, for testing RemoteAPI. Errors the
// registered servers return are turned into statuses with errs.ToGRPC, as
// kitshop's server interceptors do, so a test's fake API (embedding the
// generated Unimplemented server) can be registered as it stands and
// return domain errors; a status error passes unchanged. When the test
// ends the connection is closed and the server stopped, and its Serve has
// returned.
func ServeGRPC(t testing.TB, register func(*grpc.Server)) *grpc.ClientConn {
	t.Helper()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(unaryStatus), grpc.ChainStreamInterceptor(streamStatus))
	register(srv)
	return kittest.ServeGRPC(t, srv)
}

func unaryStatus(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	return resp, errs.ToGRPC(err)
}

func streamStatus(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return errs.ToGRPC(h(srv, ss))
}

// AsCaller serves h with c in the request context, as the verifier
// middleware puts a bearer token's claims there.
func AsCaller(c auth.Claims, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(auth.WithClaims(r.Context(), c)))
	})
}

// AsRole is AsCaller for a caller with subject's id and role.
func AsRole(role, subject string, h http.Handler) http.Handler {
	c := auth.Claims{Role: role}
	c.Subject = subject
	return AsCaller(c, h)
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
