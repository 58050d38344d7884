package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pemFiles writes a CA, a certificate it signed for the service and that
// certificate's key, plus a second, unrelated key, and returns their paths.
func pemFiles(t *testing.T) (ca, cert, key, otherKey string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	caKey, leafKey := newKey(), newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kitshop test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	spiffe, _ := url.Parse("spiffe://kitshop/users")
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "users"}, URIs: []*url.URL{spiffe},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caTmpl, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("users.pem", "CERTIFICATE", leafDER),
		write("users-key.pem", "PRIVATE KEY", keyDER(leafKey)), write("other-key.pem", "PRIVATE KEY", keyDER(newKey()))
}

func TestTLSSettings(t *testing.T) {
	clearServiceEnv(t)
	ca, cert, key, otherKey := pemFiles(t)

	// From the environment, all three: mTLS on, paths (not contents) logged.
	t.Setenv("KITSHOP_TLS_CA", ca)
	t.Setenv("KITSHOP_TLS_CERT", cert)
	t.Setenv("KITSHOP_TLS_KEY", key)
	svc, err := ParseService("users", ":8081", ":9081", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !svc.UsesTLS() || svc.TLSCA != ca || svc.TLSCert != cert || svc.TLSKey != key {
		t.Fatalf("TLS settings not taken from the environment: %+v", svc)
	}
	if s := svc.String(); !strings.Contains(s, "cert="+cert) || strings.Contains(s, "PRIVATE") {
		t.Fatalf("String: %s", s)
	}

	clearServiceEnv(t)
	svc, err = ParseService("users", ":8081", ":9081", nil)
	if err != nil || svc.UsesTLS() || !strings.Contains(svc.String(), "tls=off") {
		t.Fatalf("no TLS settings: %v %s", err, svc)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"only the CA", []string{"-tls-ca", ca}, []string{"[-tls-ca] set without [-tls-cert -tls-key]", "all three"}},
		{"no key", []string{"-tls-ca", ca, "-tls-cert", cert}, []string{"without [-tls-key]"}},
		{"missing file", []string{"-tls-ca", ca + ".nope", "-tls-cert", cert, "-tls-key", key}, []string{"-tls-ca", "no such file"}},
		{"CA holds a key", []string{"-tls-ca", key, "-tls-cert", cert, "-tls-key", key}, []string{"holds no PEM certificate"}},
		{"key of another certificate", []string{"-tls-ca", ca, "-tls-cert", cert, "-tls-key", otherKey}, []string{"-tls-cert/-tls-key", otherKey, "does not match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseService("users", ":8081", ":9081", tc.args)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// -h documents the new settings with their environment variables.
func TestHelpListsLifecycleAndTLSSettings(t *testing.T) {
	clearServiceEnv(t)
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	DefineService(fs, "users", ":8081", ":9081")
	if err := Parse(fs, []string{"-h"}); err != flag.ErrHelp {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{
		"-startup-timeout", "KITSHOP_STARTUP_TIMEOUT", "(default 30s)",
		"-deregister-grace", "KITSHOP_DEREGISTER_GRACE", "(default 1.5s)",
		"-tls-ca", "KITSHOP_TLS_CA", "-tls-cert", "KITSHOP_TLS_CERT", "-tls-key", "KITSHOP_TLS_KEY",
		"-breaker-failures", "KITSHOP_BREAKER_FAILURES", "-breaker-open-timeout", "KITSHOP_BREAKER_OPEN_TIMEOUT",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, out.String())
		}
	}
}
