package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/kitshop/kitshop/kit/tlsx"
)

// security is how the launched platform authenticates itself: a
// development CA with one certificate per process (mTLS everywhere), or
// nothing at all under -insecure.
type security struct {
	// files is each process's identity; nil when insecure.
	files map[string]tlsx.Files
	// caFile is the CA certificate clients such as curl must trust.
	caFile string
	roots  *x509.CertPool
}

// secure writes a development CA (reused while valid) and a fresh
// certificate for every kitshop process into dir, including those not
// built yet, so that `go run ./orders` by hand can borrow one.
func secure(dir string) (*security, error) {
	files, err := tlsx.WriteDevFiles(dir, names(processes)...)
	if err != nil {
		return nil, fmt.Errorf("development certificates in %s: %w", dir, err)
	}
	s := &security{files: files, caFile: files["registry"].CA, roots: x509.NewCertPool()}
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		return nil, err
	}
	if !s.roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", s.caFile)
	}
	return s, nil
}

func (s *security) on() bool { return s != nil && s.files != nil }

// env is what tells process p who it is. Insecure, the variables are set
// empty (which every kitshop process reads as unset), so an identity in
// the developer's own environment cannot half-enable TLS.
func (s *security) env(p process) []string {
	var f tlsx.Files
	if s.on() {
		f = s.files[p.name]
	}
	return []string{"KITSHOP_TLS_CA=" + f.CA, "KITSHOP_TLS_CERT=" + f.Cert, "KITSHOP_TLS_KEY=" + f.Key}
}

func (s *security) scheme() string {
	if s.on() {
		return "https"
	}
	return "http"
}

// httpClient reaches the processes' HTTP ports, trusting the development
// CA as curl --cacert does. It presents no certificate: health and the
// public API do not ask for one.
func (s *security) httpClient() *http.Client {
	c := &http.Client{Timeout: 2 * time.Second}
	if s.on() {
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}}
	}
	return c
}
