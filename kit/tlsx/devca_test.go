package tlsx_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/tlsx"
)

// `make run` calls WriteDevFiles on every start: the CA is kept (so a
// certificate issued before still verifies and curl's --cacert stays
// valid), keys are private, and each certificate names its service.
func TestWriteDevFilesReusesTheCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	first, err := tlsx.WriteDevFiles(dir, "users", "orders")
	if err != nil {
		t.Fatal(err)
	}
	ca1, err := os.ReadFile(first["users"].CA)
	if err != nil {
		t.Fatal(err)
	}
	oldUsers, err := os.ReadFile(first["users"].Cert)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(first["users"].Key)
	if err != nil {
		t.Fatal(err)
	}
	second, err := tlsx.WriteDevFiles(dir, "users", "payments")
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := os.ReadFile(second["users"].CA)
	if err != nil || !bytes.Equal(ca1, ca2) {
		t.Fatalf("the CA changed between runs (%v)", err)
	}
	// A certificate of the first run still verifies against the CA of
	// the second: write it back beside the second run's CA and load it.
	stale := tlsx.Files{CA: second["users"].CA, Cert: filepath.Join(t.TempDir(), "old.pem"), Key: filepath.Join(t.TempDir(), "old-key.pem")}
	if err := os.WriteFile(stale.Cert, oldUsers, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale.Key, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]tlsx.Files{"payments": second["payments"], "users": stale, "orders": first["orders"]} {
		id, err := tlsx.Load(f)
		if err != nil || id.Service != name {
			t.Errorf("Load(%s) = %v, %v", name, id, err)
		}
		if fi, err := os.Stat(f.Key); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s key readable by others: %v %v", name, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key: %v %v, want 0600", fi, err)
	}
}

func TestLoadRefusesIncompleteOrForeignFiles(t *testing.T) {
	files, err := tlsx.WriteDevFiles(t.TempDir(), "users")
	if err != nil {
		t.Fatal(err)
	}
	u := files["users"]
	for name, f := range map[string]tlsx.Files{
		"no key":           {CA: u.CA, Cert: u.Cert},
		"no CA":            {Cert: u.Cert, Key: u.Key},
		"CA is not PEM":    {CA: u.Key + ".missing", Cert: u.Cert, Key: u.Key},
		"key of another":   {CA: u.CA, Cert: u.Cert, Key: u.CA},
		"cert is the CA's": {CA: u.CA, Cert: u.CA, Key: filepath.Join(filepath.Dir(u.CA), "ca-key.pem")},
	} {
		if id, err := tlsx.Load(f); err == nil {
			t.Errorf("%s: Load = %v, want an error", name, id)
		} else if name == "cert is the CA's" && !strings.Contains(err.Error(), "names no kitshop service") {
			t.Errorf("%s: %v, want it to say the certificate names no service", name, err)
		}
	}
}
