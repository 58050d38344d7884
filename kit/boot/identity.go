package boot

import (
	"crypto/tls"
	"net"
	"net/http"

	"github.com/go-kit/log/level"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// RegistryService is the identity the registry's etcd presents.
const RegistryService = "registry"

// loadIdentity loads the process's certificate when TLS is configured and
// checks that it names this service: a process started with another
// service's certificate would pass its allow-lists.
func loadIdentity(cfg config.Service) (*tlsx.Identity, error) {
	service := cfg.Name
	f := tlsx.Files{CA: cfg.TLSCA, Cert: cfg.TLSCert, Key: cfg.TLSKey}
	if !f.Enabled() {
		return nil, nil
	}
	id, err := tlsx.Load(f)
	if err != nil {
		return nil, err
	}
	if id.Service != service {
		return nil, &identityError{want: service, got: id.Service}
	}
	return id, nil
}

type identityError struct{ want, got string }

func (e *identityError) Error() string {
	return "boot: KITSHOP_TLS_CERT names service " + e.got + ", not " + e.want
}

// loopbackOnly binds the gRPC port to 127.0.0.1 whatever host was asked
// for (a wildcard or another interface's address): without mTLS the
// internal methods cannot tell who calls them, so nobody beyond this
// machine may reach them. Loopback addresses and "localhost" stay.
func loopbackOnly(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "localhost" {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

func (p *Process) logIdentity() {
	if p.TLS != nil {
		_ = level.Info(p.Logger).Log("msg", "mTLS on: gRPC, HTTP and the registry speak TLS; internal methods check the caller's certificate", "identity", tlsx.ServiceURI(p.TLS.Service))
		return
	}
	if p.grpcLn != nil {
		_ = level.Warn(p.Logger).Log("msg", "KITSHOP_TLS_CA/CERT/KEY unset: internal gRPC methods trust their callers, so gRPC listens on loopback only", "grpc_addr", p.GRPCAddr(), "requested", p.grpcRequested)
	}
}

// AllowCallers restricts the internal methods in list to the services it
// names, checked against the caller's certificate. Without TLS it is a
// no-op (and gRPC listens on loopback only).
func (p *Process) AllowCallers(list tlsx.AllowList) []grpc.ServerOption {
	return []grpc.ServerOption{list.ServerOption(p.TLS != nil), list.StreamServerOption(p.TLS != nil)}
}

// clientTLS is the TLS configuration for calling peer, or nil without TLS.
func (p *Process) clientTLS(peer string) *tls.Config {
	if p.TLS == nil {
		return nil
	}
	return p.TLS.ClientConfig(peer)
}

// httpListener is the HTTP listener, speaking TLS under mTLS so that
// tokens' keys (the JWKS) come only from a peer proven to be users.
func (p *Process) httpListener() net.Listener {
	if p.TLS == nil {
		return p.httpLn
	}
	return tls.NewListener(p.httpLn, p.TLS.ServerConfig())
}

// HTTPClient returns a client for calling peer's HTTP port: mTLS and
// accepting only peer's certificate under TLS, plain otherwise.
func (p *Process) HTTPClient(peer string) *http.Client {
	if p.TLS == nil {
		return &http.Client{}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = p.TLS.ClientConfig(peer)
	return &http.Client{Transport: t}
}

// HTTPScheme is how peers' HTTP ports are addressed.
func (p *Process) HTTPScheme() string {
	if p.TLS == nil {
		return "http"
	}
	return "https"
}
