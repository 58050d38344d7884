package auth

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadKeys(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	gotPriv, err := LoadPrivateKey(write("priv.pem", "PRIVATE KEY", privDER))
	if err != nil || !gotPriv.Equal(priv) {
		t.Fatalf("LoadPrivateKey: %v", err)
	}
	gotPub, err := LoadPublicKey(write("pub.pem", "PUBLIC KEY", pubDER))
	if err != nil || !gotPub.Equal(pub) {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	if _, err := LoadPublicKey(write("swapped.pem", "PRIVATE KEY", privDER)); err == nil {
		t.Fatal("a private key was accepted as a public one")
	}
	if _, err := LoadPrivateKey(write("junk.pem", "PRIVATE KEY", []byte("junk"))); err == nil {
		t.Fatal("junk accepted")
	}
	if _, err := LoadPrivateKey(filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("missing file accepted")
	}
}
