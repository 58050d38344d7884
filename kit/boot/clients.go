package boot

import (
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/sd"
)

// Backend returns how this process calls service: over discovery in the
// registry, or at the fixed address in KITSHOP_<SERVICE>_ADDR (e.g.
// KITSHOP_USERS_ADDR=127.0.0.1:9081) when that is set; under mTLS,
// accepting only a peer whose certificate names service; with the
// process's breaker settings, tracing and client metrics. Hand it to the
// service's client package (users/client.New).
func (p *Process) Backend(service string) (sd.BackendConfig, error) {
	cfg := sd.BackendConfig{
		Service: service, Caller: p.Config.Name, Logger: p.Logger,
		Addr: strings.TrimSpace(os.Getenv("KITSHOP_" + strings.ToUpper(service) + "_ADDR")),
		Dial: p.Dialer(service),
		Breaker: mw.BreakerSettings{
			ConsecutiveFailures: uint32(p.Config.BreakerFailures),
			OpenTimeout:         p.Config.BreakerOpenTimeout,
		},
		Chain: mw.Chain{Service: p.Config.Name, Tracer: p.Tracer, RED: p.RED},
	}
	if cfg.Addr == "" {
		client, err := p.Etcd()
		if err != nil {
			return cfg, err
		}
		cfg.Etcd = client
	}
	return cfg, nil
}

// Dialer opens connections to instances of service: mTLS when configured
// (the server must prove it is service), tracing, request ids, and the
// caller's bearer token forwarded so the callee sees the same user.
func (p *Process) Dialer(service string) func(target string) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(auth.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(auth.StreamClientInterceptor()),
	}
	if tc := p.clientTLS(service); tc != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	return func(target string) (*grpc.ClientConn, error) {
		return grpcx.Dial(target, grpcx.ClientConfig{Tracer: p.Tracer}, opts...)
	}
}
