package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// refusedPutTimeout bounds each Put that must fail: etcd's client retries
// a refused handshake until its context ends, so this is how long a
// refusal takes to show.
const refusedPutTimeout = 2 * time.Second

// startSecureEtcd runs the registry's etcd with the registry's dev
// certificate and returns its client endpoint and the platform files.
func startSecureEtcd(t *testing.T) (endpoint string, files map[string]tlsx.Files) {
	t.Helper()
	files, err := tlsx.WriteDevFiles(t.TempDir(), "registry", "users", "payments")
	if err != nil {
		t.Fatal(err)
	}
	e, stop, err := startEtcd(etcdOptions{
		ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0", DataDir: t.TempDir(),
		LogLevel: zapcore.FatalLevel, TLS: files["registry"],
	}, log.NewNopLogger())
	if err != nil {
		t.Fatalf("startEtcd: %v", err)
	}
	t.Cleanup(func() { _ = stop.Close() })
	if endpoint, err = clientEndpoint(e); err != nil {
		t.Fatal(err)
	}
	return endpoint, files
}

// rawClient is an etcd client built by hand, as an attacker would: tlsCfg
// nil means plaintext.
func rawClient(t *testing.T, endpoint string, tlsCfg *tls.Config) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, TLS: tlsCfg, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func platformClient(t *testing.T, endpoint string, f tlsx.Files) *clientv3.Client {
	t.Helper()
	id, err := tlsx.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sd.NewClientTLS([]string{endpoint}, clientTLS(id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func caPool(t *testing.T, f tlsx.Files) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in", f.CA)
	}
	return pool
}

// handshakeError is how a TLS connection with cfg to endpoint fails. In
// TLS 1.3 the server checks the client's certificate after the client
// considers the handshake done, so the server's alert arrives on the
// first read.
func handshakeError(endpoint string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: refusedPutTimeout}
	conn, err := tls.DialWithDialer(d, "tcp", endpoint, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(refusedPutTimeout))
	_, err = conn.Read(make([]byte, 1))
	return err
}

func put(c *clientv3.Client, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), refusedPutTimeout)
	defer cancel()
	_, err := c.Put(ctx, key, `{"id":"fake","name":"users","grpc_addr":"203.0.113.1:9081"}`)
	return err
}

// Under TLS the registry's etcd accepts a registration only from a client
// presenting a certificate signed by the platform CA: a fake users
// instance cannot be published without one, whatever else the attacker
// tries.
func TestEtcdRequiresPlatformClientCertificate(t *testing.T) {
	endpoint, files := startSecureEtcd(t)
	legit := platformClient(t, endpoint, files["users"])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel) // not defer: the parallel subtests run after this function returns
	if _, err := legit.Put(ctx, sd.Key("users", "real"), `{"id":"real"}`); err != nil {
		t.Fatalf("a platform client could not register: %v", err)
	}

	foreign, err := tlsx.WriteDevFiles(t.TempDir(), "users")
	if err != nil {
		t.Fatal(err)
	}
	foreignCert, err := tls.LoadX509KeyPair(foreign["users"].Cert, foreign["users"].Key)
	if err != nil {
		t.Fatal(err)
	}
	roots := caPool(t, files["users"])
	for name, tc := range map[string]struct {
		cfg *tls.Config
		// handshake is what a bare TLS handshake with etcd ends in (""
		// for plaintext): etcd's client only reports the deadline it
		// spent retrying, so the precise refusal is checked by hand.
		handshake string
	}{
		"plaintext":                 {nil, ""},
		"TLS without a certificate": {&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, "remote error: tls: certificate required"},
		"certificate of a foreign CA": {&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{foreignCert}, MinVersion: tls.VersionTLS12},
			"remote error: tls: unknown certificate authority"},
		// An attacker's client trusting its own CA does not even get to
		// present its certificate: etcd's is not one it can verify.
		"foreign CA, trusting it only": {&tls.Config{RootCAs: caPool(t, foreign["users"]), Certificates: []tls.Certificate{foreignCert}, MinVersion: tls.VersionTLS12},
			"x509: certificate signed by unknown authority"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each refusal takes refusedPutTimeout
			key := sd.Key("users", "fake-"+strings.ReplaceAll(name, " ", "-"))
			err := put(rawClient(t, endpoint, tc.cfg), key)
			if err == nil {
				t.Fatal("etcd accepted a registration from a client without a platform certificate")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Put failed with %v, want the client's deadline (it retries a refused connection)", err)
			}
			if tc.cfg != nil {
				if got := handshakeError(endpoint, tc.cfg); got == nil || !strings.Contains(got.Error(), tc.handshake) {
					t.Errorf("handshake ended in %v, want %q", got, tc.handshake)
				}
			}
			resp, err := legit.Get(ctx, key)
			if err != nil || resp.Count != 0 {
				t.Fatalf("the refused key is there: %v %v", resp, err)
			}
		})
	}
}

// A registry started with another service's certificate would be refused
// by every service's etcd client, which expects the registry: it refuses
// to start instead, and says why.
func TestRegistryIdentityMustNameRegistry(t *testing.T) {
	files, err := tlsx.WriteDevFiles(t.TempDir(), "users", "registry")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadIdentity(files["users"]); err == nil || !strings.Contains(err.Error(), "names service users, not registry") {
		t.Fatalf("loadIdentity(users certificate) = %v, want a refusal naming both", err)
	}
	if id, err := loadIdentity(files["registry"]); err != nil || id.Service != "registry" {
		t.Fatalf("loadIdentity(registry certificate) = %v, %v", id, err)
	}
	if id, err := loadIdentity(tlsx.Files{}); id != nil || err != nil {
		t.Fatalf("loadIdentity without files = %v, %v; want plaintext", id, err)
	}
	if _, err := loadIdentity(tlsx.Files{CA: files["registry"].CA}); err == nil {
		t.Fatal("loadIdentity accepted a CA without a certificate")
	}
}

// The peer listener answers etcd's peer API (lease keep-alives among it)
// even on a single node: under TLS it refuses plaintext and callers
// without a platform certificate, so nobody can keep a dead instance's
// lease, and so its registration, alive.
func TestEtcdPeerListenerRequiresPlatformCertificate(t *testing.T) {
	files, err := tlsx.WriteDevFiles(t.TempDir(), "registry", "users")
	if err != nil {
		t.Fatal(err)
	}
	e, stop, err := startEtcd(etcdOptions{
		ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0", DataDir: t.TempDir(),
		LogLevel: zapcore.FatalLevel, TLS: files["registry"],
	}, log.NewNopLogger())
	if err != nil {
		t.Fatalf("startEtcd: %v", err)
	}
	t.Cleanup(func() { _ = stop.Close() })
	peer := e.Peers[0].Addr().String()
	client := &http.Client{Timeout: 3 * time.Second}
	if resp, err := client.Post("http://"+peer+"/leases", "application/protobuf", nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plaintext peer API answered %d", resp.StatusCode)
		}
	}
	noCert := &tls.Config{RootCAs: caPool(t, files["users"]), MinVersion: tls.VersionTLS12}
	if err := handshakeError(peer, noCert); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("TLS without a certificate to the peer listener: %v, want certificate required", err)
	}
}
