package k8s

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// TestMakeCertsScript runs certs/make-certs.sh (the way to the Secrets
// without cert-manager) and checks its output the way the programs will
// read it: each pair loads, chains to the CA for both server and client
// use, and names exactly its service; etcd's names the registry and every
// member of the rendered StatefulSet; the token key is PKCS#8 Ed25519.
// A second run renews the certificates under the same CA and token key.
func TestMakeCertsScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("no openssl on PATH: apt-get install -y openssl")
	}
	dir := t.TempDir()
	runScript := func() {
		t.Helper()
		if out, err := exec.Command("bash", "certs/make-certs.sh", dir).CombinedOutput(); err != nil {
			t.Fatalf("make-certs.sh: %v\n%s", err, out)
		}
	}
	runScript()
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	caPEM, jwtKey := read("ca.crt"), read("users-jwt.key")
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	check := func(name, service string) *x509.Certificate {
		t.Helper()
		pair, err := tls.X509KeyPair(read(name+".crt"), read(name+".key"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s for usage %v: %v", name, usage, err)
			}
		}
		var uris []string
		for _, u := range leaf.URIs {
			uris = append(uris, u.String())
		}
		if !slices.Equal(uris, []string{"spiffe://kitshop/" + service}) {
			t.Errorf("%s names %v, want exactly spiffe://kitshop/%s", name, uris, service)
		}
		if leaf.IsCA {
			t.Errorf("%s is a CA", name)
		}
		if left := time.Until(leaf.NotAfter); left < 80*24*time.Hour || left > 100*24*time.Hour {
			t.Errorf("%s expires in %v, want about 90 days", name, left)
		}
		return leaf
	}
	for _, p := range programs {
		check(p.name, p.name)
	}
	etcd := check("etcd", "registry")
	sts := typed[appsv1.StatefulSet](render(t, overlays[0]))["etcd"]
	for i := 0; i < int(*sts.Spec.Replicas); i++ {
		member := fmt.Sprintf("%s-%d.%s", sts.Name, i, sts.Spec.ServiceName)
		if err := etcd.VerifyHostname(member); err != nil {
			t.Errorf("etcd certificate: %v", err)
		}
	}
	for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "ETCD_PEER_CERT_ALLOWED_CN" && e.Value != etcd.Subject.CommonName {
			t.Errorf("etcd certificate CN %q, ETCD_PEER_CERT_ALLOWED_CN %q", etcd.Subject.CommonName, e.Value)
		}
	}
	block, _ := pem.Decode(jwtKey)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("users-jwt.key is not a PKCS#8 PEM key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Errorf("users-jwt.key: %v", err)
	} else if _, ok := k.(ed25519.PrivateKey); !ok {
		t.Errorf("users-jwt.key is a %T, want Ed25519", k)
	}

	before := read("users.crt")
	runScript()
	if string(read("ca.crt")) != string(caPEM) || string(read("users-jwt.key")) != string(jwtKey) {
		t.Error("a second run replaced the CA or the token key")
	}
	if string(read("users.crt")) == string(before) {
		t.Error("a second run did not renew the certificates")
	}
	check("users", "users")
}
