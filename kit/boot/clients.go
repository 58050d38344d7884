package boot

import (
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/metrics"
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
			HalfOpenProbes:      uint32(p.Config.BreakerProbes),
		},
		Chain: mw.Chain{Service: p.Config.Name, Tracer: p.Tracer, RED: p.RED},
	}
	breakers, err := metrics.NewBreakers(p.Metrics, p.Config.Name)
	if err != nil {
		return cfg, err
	}
	breakers.Track(service)
	cfg.Breaker.OnStateChange = func(_, _, to string) { breakers.Changed(service, to) }
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

// Client builds service's client (newClient is the client package's New,
// e.g. users/client.New) over Backend(service), after tune has adjusted
// the configuration (nil: none), and closes it with the process. A
// process that has neither a registry nor KITSHOP_<SERVICE>_ADDR cannot
// reach the service at all: that is a start-up error naming both
// settings, not a process that fails every call.
func Client[C interface{ Close() error }](p *Process, service string, newClient func(sd.BackendConfig) (C, error), tune func(*sd.BackendConfig)) (C, error) {
	var zero C
	cfg, err := p.Backend(service)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", service, err)
	}
	if cfg.Etcd == nil && cfg.Addr == "" {
		return zero, fmt.Errorf("no way to reach %s: set KITSHOP_%s_ADDR to its gRPC address, or give a registry (-etcd-endpoints, KITSHOP_ETCD_ENDPOINTS)",
			service, strings.ToUpper(service))
	}
	if tune != nil {
		tune(&cfg)
	}
	c, err := newClient(cfg)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", service, err)
	}
	p.OnClose(c)
	return c, nil
}
