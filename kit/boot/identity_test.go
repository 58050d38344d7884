package boot

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
)

func TestLoopbackOnly(t *testing.T) {
	for in, want := range map[string]string{
		":9081":          "127.0.0.1:9081",
		"0.0.0.0:9081":   "127.0.0.1:9081",
		"[::]:9081":      "127.0.0.1:9081",
		":0":             "127.0.0.1:0",
		"127.0.0.1:9081": "127.0.0.1:9081",
		"10.1.2.3:9081":  "127.0.0.1:9081", // another interface: still not without mTLS
		"[::1]:9081":     "[::1]:9081",
		"localhost:9081": "localhost:9081",
		"":               "", // no gRPC at all
	} {
		if got := loopbackOnly(in); got != want {
			t.Errorf("loopbackOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// setTLS points the KITSHOP_TLS_* variables at f for the test.
func setTLS(t *testing.T, f tlsx.Files) {
	t.Setenv("KITSHOP_TLS_CA", f.CA)
	t.Setenv("KITSHOP_TLS_CERT", f.Cert)
	t.Setenv("KITSHOP_TLS_KEY", f.Key)
}

// newWidgets builds the "widgets" process with gRPC on every interface
// (":0"), logging into the returned buffer.
func newWidgets(t *testing.T) (*Process, *bytes.Buffer, error) {
	t.Helper()
	cfg, err := config.ParseService("widgets", "127.0.0.1:0", ":0", []string{"-etcd-endpoints="})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p, err := New(cfg, &logs)
	if err == nil {
		t.Cleanup(func() { _ = p.Close() })
	}
	return p, &logs, err
}

// Without TLS nobody can tell who calls an internal method, so gRPC asked
// to listen everywhere listens on loopback, and the log says why, once.
func TestWithoutTLSGRPCListensOnLoopback(t *testing.T) {
	setTLS(t, tlsx.Files{})
	p, logs, err := newWidgets(t)
	if err != nil {
		t.Fatal(err)
	}
	if ip := p.grpcLn.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Fatalf("gRPC listens on %v without TLS, want loopback", p.grpcLn.Addr())
	}
	if p.TLS != nil {
		t.Fatal("TLS identity loaded without KITSHOP_TLS_*")
	}
	if n := strings.Count(logs.String(), "internal gRPC methods trust their callers"); n != 1 {
		t.Fatalf("the loopback warning was logged %d times:\n%s", n, logs)
	}
}

// Under TLS the caller is checked, so gRPC listens where it was told.
func TestWithTLSGRPCListensWhereTold(t *testing.T) {
	files, err := tlsx.WriteDevFiles(t.TempDir(), "widgets")
	if err != nil {
		t.Fatal(err)
	}
	setTLS(t, files["widgets"])
	p, logs, err := newWidgets(t)
	if err != nil {
		t.Fatal(err)
	}
	if ip := p.grpcLn.Addr().(*net.TCPAddr).IP; !ip.IsUnspecified() {
		t.Fatalf("gRPC listens on %v under TLS, want every interface as configured", p.grpcLn.Addr())
	}
	if p.TLS == nil || p.TLS.Service != "widgets" || p.HTTPScheme() != "https" {
		t.Fatalf("identity %+v, scheme %s", p.TLS, p.HTTPScheme())
	}
	if strings.Contains(logs.String(), "trust their callers") || !strings.Contains(logs.String(), tlsx.ServiceURI("widgets")) {
		t.Fatalf("log does not announce mTLS as widgets:\n%s", logs)
	}
}

// A process handed another service's certificate would pass that
// service's allow-lists: it refuses to start, naming both services.
func TestAnotherServicesCertificateStopsTheStart(t *testing.T) {
	files, err := tlsx.WriteDevFiles(t.TempDir(), "payments")
	if err != nil {
		t.Fatal(err)
	}
	setTLS(t, files["payments"])
	p, _, err := newWidgets(t)
	if err == nil || p != nil {
		t.Fatalf("New with a payments certificate = %v, %v; want a refusal", p, err)
	}
	if !strings.Contains(err.Error(), "KITSHOP_TLS_CERT names service payments, not widgets") {
		t.Fatalf("refusal %q does not name both services", err)
	}

	// Half a configuration is an error too, not a silent plaintext start.
	t.Setenv("KITSHOP_TLS_KEY", "")
	if _, err := config.ParseService("widgets", "127.0.0.1:0", ":0", nil); err == nil || !strings.Contains(err.Error(), "mTLS needs all three") {
		t.Fatalf("configuration with CA and certificate but no key: %v", err)
	}
}

// Without mTLS a registry entry is no identity: only users instances on
// this machine may serve the keys that verify tokens.
func TestPlaintextTakesKeysOnlyFromLoopbackInstances(t *testing.T) {
	got := loopbackInstances([]sd.Instance{
		{ID: "a", HTTPAddr: "127.0.0.1:8081"}, {ID: "b", HTTPAddr: "203.0.113.9:8081"},
		{ID: "c", HTTPAddr: "[::1]:8081"}, {ID: "d", HTTPAddr: "localhost:8081"},
		{ID: "e", HTTPAddr: "users.internal:8081"}, {ID: "f", HTTPAddr: "garbage"},
	})
	var ids []string
	for _, in := range got {
		ids = append(ids, in.ID)
	}
	if strings.Join(ids, ",") != "a,c,d" {
		t.Fatalf("kept %v, want a,c,d", ids)
	}
}
