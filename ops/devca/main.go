// Command devca makes the development credentials of a containerized
// kitshop: a CA (the same generator as `make run`, kit/tlsx.WriteDevFiles),
// one mTLS identity per process, and the users service's token signing key.
// The compose stack (ops/compose.yaml) runs it as a one-shot init container
// before anything else starts.
//
//	devca -ca-dir /kitshop/ca -out /kitshop/tls
//
// Layout, one directory per process so that each container mounts only its
// own key (compose gives every directory its own volume):
//
//	<ca-dir>/ca.pem, ca-key.pem          the CA; reused while valid for another day
//	<out>/public/ca.pem                  the CA certificate alone (Prometheus, curl)
//	<out>/<process>/ca.pem               the CA certificate
//	<out>/<process>/cert.pem, key.pem    the process's certificate (30 days) and key
//	<out>/users/jwt-key.pem              Ed25519 token signing key, made once and kept
//
// Every run issues fresh certificates (rotation is running it again and
// restarting the processes); the CA and the signing key are kept, so
// certificates issued earlier and tokens signed earlier stay valid.
// Production brings its own CA and keys and never runs this.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// processes are the kitshop processes that get an identity.
const processes = "registry,users,products,orders,payments,gateway"

// File names inside each process's directory: fixed, so that every
// container is configured alike (KITSHOP_TLS_CA=/etc/kitshop/tls/ca.pem ...).
const (
	caFile     = "ca.pem"
	certFile   = "cert.pem"
	keyFile    = "key.pem"
	jwtKeyFile = "jwt-key.pem"
	publicDir  = "public"
)

func main() {
	err := run(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devca:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devca", flag.ContinueOnError)
	caDir := config.String(fs, "ca-dir", "KITSHOP_DEVCA_CA_DIR", "/kitshop/ca", "directory of the CA certificate and key (keep it private and persistent)")
	out := config.String(fs, "out", "KITSHOP_DEVCA_OUT", "/kitshop/tls", "directory that receives one sub-directory per process, plus public/")
	names := config.StringList(fs, "processes", "KITSHOP_DEVCA_PROCESSES", config.SplitList(processes), "comma-separated processes to issue certificates for")
	jwtFor := config.String(fs, "jwt-key-for", "KITSHOP_DEVCA_JWT_KEY_FOR", "users", "process whose directory gets jwt-key.pem (made once, then kept); empty: none")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	if len(*names) == 0 {
		return errors.New("-processes is empty")
	}
	for _, n := range *names {
		if n == publicDir || n == "" || strings.ContainsAny(n, `/\.`) {
			return fmt.Errorf("-processes: %q is not a process name", n)
		}
	}
	// The CA directory holds the CA's key: nobody else enters it.
	if err := writable(*caDir, 0o700); err != nil {
		return err
	}
	// Each process's directory, not out itself: in compose each is a
	// volume and out is part of a read-only root file system.
	for _, d := range append([]string{publicDir}, *names...) {
		if err := writable(filepath.Join(*out, d), 0o755); err != nil {
			return err
		}
	}
	files, err := tlsx.WriteDevFiles(*caDir, *names...)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(files[(*names)[0]].CA)
	if err != nil {
		return err
	}
	if err := install(filepath.Join(*out, publicDir), map[string][]byte{caFile: caPEM}, nil); err != nil {
		return err
	}
	for _, n := range *names {
		if err := installIdentity(*out, n, caPEM, files[n]); err != nil {
			return err
		}
	}
	jwtNote := "none"
	if *jwtFor != "" {
		made, err := ensureSigningKey(filepath.Join(*out, *jwtFor, jwtKeyFile))
		if err != nil {
			return err
		}
		jwtNote = map[bool]string{true: "made", false: "kept"}[made]
	}
	return report(stdout, caPEM, *out, *names, jwtNote)
}

// writable fails early, and says why, when a directory cannot be written:
// in compose that means a volume not owned by the image's user, which the
// image's own directories prevent (see the Dockerfile's devca stage).
func writable(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("%s: %w (it must be writable by uid %d)", dir, err, os.Getuid())
	}
	f, err := os.CreateTemp(dir, ".devca-probe-*")
	if err != nil {
		return fmt.Errorf("%s is not writable by uid %d: %w", dir, os.Getuid(), err)
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	return os.Chmod(dir, mode)
}

// installIdentity copies process n's certificate and key out of the CA
// directory into its own directory, then deletes them from the CA
// directory, which keeps only the CA.
func installIdentity(out, n string, caPEM []byte, f tlsx.Files) error {
	cert, err := os.ReadFile(f.Cert)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(f.Key)
	if err != nil {
		return err
	}
	if err := install(filepath.Join(out, n), map[string][]byte{caFile: caPEM, certFile: cert}, map[string][]byte{keyFile: key}); err != nil {
		return err
	}
	return errors.Join(os.Remove(f.Cert), os.Remove(f.Key))
}

// install writes public files (0644) and private ones (0600) into dir
// (0755, so that a reader of another uid, such as Prometheus reading the
// CA, can enter it; the keys stay the owner's). Each file is replaced by
// a rename, so a process starting meanwhile reads an old or a new file,
// never half of one.
func install(dir string, public, private map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	for name, data := range public {
		if err := replace(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	for name, data := range private {
		if err := replace(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func replace(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, mode)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// ensureSigningKey makes an Ed25519 key (PKCS#8 PEM, what users'
// KITSHOP_JWT_KEY_FILE reads) at path unless a file is there already:
// every users replica must sign with the same key, and keeping it across
// runs keeps issued tokens valid. It reports whether it made one.
func ensureSigningKey(path string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	return true, replace(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// report is what `docker compose logs certs` shows.
func report(w io.Writer, caPEM []byte, out string, names []string, jwt string) error {
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return errors.New("CA certificate is not PEM")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	certPEM, err := os.ReadFile(filepath.Join(out, names[0], certFile))
	if err != nil {
		return err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return errors.New("certificate is not PEM")
	}
	leaf, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "devca: CA %q valid until %s\ndevca: certificates for %s in %s, valid until %s\ndevca: token signing key: %s\n",
		ca.Subject.CommonName, ca.NotAfter.UTC().Format(time.DateOnly),
		strings.Join(names, ", "), out, leaf.NotAfter.UTC().Format(time.DateOnly), jwt)
	return err
}
