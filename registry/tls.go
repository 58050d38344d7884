package main

import (
	"crypto/tls"
	"fmt"
	"net"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// loadIdentity loads the registry's certificate when TLS is configured (nil
// without it). The certificate must name the registry: every service's
// etcd client accepts only a server proving it is boot.RegistryService, so
// a registry started with another certificate would be refused by all of
// them; better to refuse to start and say why.
func loadIdentity(f tlsx.Files) (*tlsx.Identity, error) {
	if !f.Enabled() {
		return nil, nil
	}
	id, err := tlsx.Load(f)
	if err != nil {
		return nil, err
	}
	if id.Service != boot.RegistryService {
		return nil, fmt.Errorf("KITSHOP_TLS_CERT names service %s, not %s", id.Service, boot.RegistryService)
	}
	return id, nil
}

// secureClients makes etcd's client listener speak TLS with the registry's
// certificate and require a client certificate signed by the platform CA:
// only platform processes may register, so an attacker who reaches the
// port cannot publish a fake instance.
//
// etcd reads the files itself (and re-reads the certificate per handshake,
// so a rotated certificate is picked up without a restart).
func secureClients(cfg *embed.Config, f tlsx.Files) {
	cfg.ClientTLSInfo.CertFile = f.Cert
	cfg.ClientTLSInfo.KeyFile = f.Key
	cfg.ClientTLSInfo.TrustedCAFile = f.CA
	cfg.ClientTLSInfo.ClientCertAuth = true
}

// securePeers does the same for the peer listener. A single node has no
// peers, but the listener still answers etcd's peer API (lease keep-alives
// among it): in plaintext any local process could keep a dead instance's
// lease, and so its registration, alive.
func securePeers(cfg *embed.Config, f tlsx.Files) {
	cfg.PeerTLSInfo.CertFile = f.Cert
	cfg.PeerTLSInfo.KeyFile = f.Key
	cfg.PeerTLSInfo.TrustedCAFile = f.CA
	cfg.PeerTLSInfo.ClientCertAuth = true
}

// clientTLS is the registry's own etcd client's TLS configuration: like
// every service, it presents its certificate and accepts only a server
// that proves it is the registry. nil without TLS.
func clientTLS(id *tlsx.Identity) *tls.Config {
	if id == nil {
		return nil
	}
	return id.ClientConfig(boot.RegistryService)
}

// viewListener serves the HTTP view over HTTPS under TLS, with the same
// identity and server settings as every other kitshop HTTP port, so one
// `curl --cacert ca.pem` works everywhere.
func viewListener(l net.Listener, id *tlsx.Identity) net.Listener {
	if id == nil {
		return l
	}
	return tls.NewListener(l, id.ServerConfig())
}
