// Package tlsx is kitshop's service identity: mutual TLS between every
// process, where each certificate names its service with a SPIFFE-style
// URI SAN (spiffe://kitshop/<service>), and per-method allow-lists of the
// services that may call internal methods.
//
// Peers are identified by that URI, not by host names: instances come and
// go on addresses nobody knows in advance, and an address (or an etcd key
// pointing at one) is not an identity. A client dialling "users" accepts
// only a server whose certificate, signed by the platform CA, says users.
package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// TrustDomain is the SPIFFE trust domain of every kitshop identity.
const TrustDomain = "kitshop"

// ServiceURI is the identity a service's certificate carries.
func ServiceURI(service string) string { return "spiffe://" + TrustDomain + "/" + service }

// Files are the PEM files of one process's identity: the platform CA, its
// certificate and its private key (KITSHOP_TLS_CA, _CERT, _KEY).
type Files struct{ CA, Cert, Key string }

// Enabled reports whether any file is set; Load insists on all three.
func (f Files) Enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// Identity is a loaded certificate with the CA that verifies peers.
type Identity struct {
	// Service is the service the certificate names.
	Service string
	cert    tls.Certificate
	roots   *x509.CertPool
}

// Load reads f. The certificate must name exactly one kitshop service.
func Load(f Files) (*Identity, error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, errors.New("tlsx: KITSHOP_TLS_CA, KITSHOP_TLS_CERT and KITSHOP_TLS_KEY must be set together")
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("tlsx: CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("tlsx: %s holds no PEM certificate", f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tlsx: certificate: %w", err)
	}
	return newIdentity(cert, roots)
}

func newIdentity(cert tls.Certificate, roots *x509.CertPool) (*Identity, error) {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tlsx: certificate: %w", err)
	}
	svc, ok := ServiceOf(leaf)
	if !ok {
		return nil, fmt.Errorf("tlsx: certificate %q names no kitshop service (want a URI SAN %s)", leaf.Subject, ServiceURI("<service>"))
	}
	cert.Leaf = leaf
	return &Identity{Service: svc, cert: cert, roots: roots}, nil
}

// ServiceOf returns the kitshop service a certificate names, if exactly one.
func ServiceOf(c *x509.Certificate) (string, bool) {
	var found string
	for _, u := range c.URIs {
		if svc, ok := serviceOfURI(u); ok {
			if found != "" {
				return "", false
			}
			found = svc
		}
	}
	return found, found != ""
}

func serviceOfURI(u *url.URL) (string, bool) {
	if u.Scheme != "spiffe" || u.Host != TrustDomain {
		return "", false
	}
	svc := strings.TrimPrefix(u.Path, "/")
	if svc == "" || strings.Contains(svc, "/") {
		return "", false
	}
	return svc, true
}

// ServerConfig is the TLS configuration of this process's listeners. A
// client certificate is verified when given but not required: public
// methods (login, the catalog) serve clients outside the platform, which
// authenticate with JWTs; internal methods demand a certificate through
// their allow-list (see AllowList).
func (id *Identity) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{id.cert},
		ClientCAs:    id.roots,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// ClientConfig is the TLS configuration for calling service peer: it
// presents this process's certificate and accepts only a server whose
// certificate the platform CA signed and that names peer. Host names are
// not checked (instances have no stable ones); the URI SAN is.
func (id *Identity) ClientConfig(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{id.cert},
		// Verification is done by VerifyConnection below, against the
		// platform CA and the peer's URI SAN instead of a host name.
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return id.verifyPeer(cs.PeerCertificates, peer, x509.ExtKeyUsageServerAuth)
		},
	}
}

func (id *Identity) verifyPeer(chain []*x509.Certificate, want string, usage x509.ExtKeyUsage) error {
	if len(chain) == 0 {
		return errors.New("tlsx: peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: id.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("tlsx: peer certificate: %w", err)
	}
	got, ok := ServiceOf(chain[0])
	if !ok || got != want {
		return fmt.Errorf("tlsx: peer is %q, want %q", got, want)
	}
	return nil
}
