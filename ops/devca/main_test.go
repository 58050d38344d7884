package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/tlsx"
)

func runDevCA(t *testing.T, caDir, out string, extra ...string) string {
	t.Helper()
	var stdout bytes.Buffer
	if err := run(append([]string{"-ca-dir", caDir, "-out", out}, extra...), &stdout); err != nil {
		t.Fatalf("devca: %v", err)
	}
	return stdout.String()
}

// Every process gets a directory with exactly what its container needs,
// an identity that kit/tlsx loads and that names that process, and a key
// nobody else can read; the CA directory keeps only the CA.
func TestLayout(t *testing.T) {
	caDir, out := filepath.Join(t.TempDir(), "ca"), t.TempDir()
	stdout := runDevCA(t, caDir, out)
	if !strings.Contains(stdout, "certificates for registry, users, products, orders, payments, gateway") ||
		!strings.Contains(stdout, "token signing key: made") {
		t.Errorf("report:\n%s", stdout)
	}
	for _, n := range strings.Split(processes, ",") {
		dir := filepath.Join(out, n)
		id, err := tlsx.Load(tlsx.Files{CA: filepath.Join(dir, caFile), Cert: filepath.Join(dir, certFile), Key: filepath.Join(dir, keyFile)})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if id.Service != n {
			t.Errorf("%s's certificate names %q", n, id.Service)
		}
		assertMode(t, dir, 0o755)
		assertMode(t, filepath.Join(dir, keyFile), 0o600)
		assertMode(t, filepath.Join(dir, certFile), 0o644)
	}
	assertMode(t, filepath.Join(out, publicDir, caFile), 0o644)
	assertMode(t, caDir, 0o700)
	left, err := os.ReadDir(caDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "ca-key.pem ca.pem" {
		t.Errorf("CA directory holds %v, want only the CA", names)
	}
	if _, err := auth.LoadPrivateKey(filepath.Join(out, "users", jwtKeyFile)); err != nil {
		t.Errorf("signing key: %v", err)
	}
	assertMode(t, filepath.Join(out, "users", jwtKeyFile), 0o600)
}

// A second run (rotation) issues new certificates from the same CA and
// keeps the signing key, so nothing issued earlier stops verifying.
func TestRerunRotatesCertificatesKeepsCAAndSigningKey(t *testing.T) {
	caDir, out := filepath.Join(t.TempDir(), "ca"), t.TempDir()
	runDevCA(t, caDir, out)
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ca, cert, jwt := read("public/ca.pem"), read("users/cert.pem"), read("users/jwt-key.pem")
	if stdout := runDevCA(t, caDir, out); !strings.Contains(stdout, "token signing key: kept") {
		t.Errorf("second report:\n%s", stdout)
	}
	if !bytes.Equal(ca, read("public/ca.pem")) || !bytes.Equal(ca, read("users/ca.pem")) {
		t.Error("the CA changed on a second run")
	}
	if bytes.Equal(cert, read("users/cert.pem")) {
		t.Error("the certificate was not reissued")
	}
	if !bytes.Equal(jwt, read("users/jwt-key.pem")) {
		t.Error("the signing key changed on a second run")
	}
}

func TestRefusesBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"-processes", "users,../etc"},
		{"-processes", "public"},
		{"-processes", ""},
	} {
		err := run(append([]string{"-ca-dir", t.TempDir(), "-out", t.TempDir()}, args...), &bytes.Buffer{})
		if err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	// An output directory that cannot be written is named in the error.
	if os.Getuid() != 0 {
		out := t.TempDir()
		if err := os.Chmod(out, 0o500); err != nil {
			t.Fatal(err)
		}
		err := run([]string{"-ca-dir", t.TempDir(), "-out", out}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), out) {
			t.Errorf("read-only out: %v", err)
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}
