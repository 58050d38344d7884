// Package boot is the wiring every kitshop process shares, so a service's
// main.go reads as "parse flags, open the store, build the service, run":
// logger, tracer, metrics, readiness, the endpoint middleware chain, the
// gRPC server, the HTTP handler stack, the etcd registration and the
// ordered shutdown all come from here, built one way.
package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/fault"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/lifecycle"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/netx"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
	"github.com/kitshop/kitshop/kit/tracing"
)

// Process holds one kitshop process's shared machinery. Build it with New,
// hand its pieces to the service, then call Run.
type Process struct {
	Config  config.Service
	Logger  log.Logger
	Tracer  *zipkin.Tracer
	Metrics *prometheus.Registry
	RED     *metrics.RED
	Ready   *health.Readiness
	// TLS is this process's service identity (mTLS), or nil when
	// KITSHOP_TLS_* are unset.
	TLS *tlsx.Identity
	// Chain is the standard endpoint middleware, configured from Config.
	Chain mw.Chain

	id             string
	grpcRequested  string // the gRPC address asked for, before loopbackOnly
	httpLn, grpcLn net.Listener
	closers        []io.Closer

	// httpLimit is httpLn's connection limit, told by the HTTP server
	// which connections are idle (httpx.TrackIdle).
	httpLimit *netx.LimitListener
	// grpcLimit is grpcLn's, told by the gRPC server which connections
	// have calls in flight (grpcx.ServerConfig.ConnLimit).
	grpcLimit *netx.LimitListener

	// fault injects test failures and latency into the API (gRPC and
	// HTTP, never the platform endpoints); nil when off (kit/fault).
	fault *fault.Injector

	etcdOnce sync.Once
	etcd     *clientv3.Client
	etcdErr  error
}

// New builds the shared machinery for cfg and opens the listeners, so that
// ":0" has become a real port by the time anything is registered. Logs go
// to out (os.Stdout when nil).
func New(cfg config.Service, out io.Writer) (*Process, error) {
	if out == nil {
		out = os.Stdout
	}
	logger, err := logx.NewWithLevel(out, cfg.Name, cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	// Read before anything is opened: a fault setting in production (or
	// a malformed one) stops the process here, with the reason.
	faults, err := fault.FromEnv(nil)
	if err != nil {
		return nil, err
	}
	p := &Process{
		Config: cfg, Logger: logger, Metrics: metrics.NewRegistry(), id: uuid.NewString(),
		Ready: health.New(health.WithLogger(log.With(logger, "component", "health"))),
		fault: fault.New(faults),
	}
	if p.TLS, err = loadIdentity(cfg); err != nil {
		return nil, err
	}
	if p.TLS == nil {
		p.grpcRequested = cfg.GRPCAddr
		cfg.GRPCAddr = loopbackOnly(cfg.GRPCAddr)
		p.Config.GRPCAddr = cfg.GRPCAddr
	}
	if p.httpLn, err = lifecycle.Listen(cfg.HTTPAddr); err != nil {
		return nil, err
	}
	p.httpLimit = netx.Limit(p.httpLn, 0) // bounded connections (netx.DefaultMaxConns)
	p.httpLn = p.httpLimit
	p.OnClose(p.httpLn)
	if cfg.GRPCAddr != "" {
		if p.grpcLn, err = lifecycle.Listen(cfg.GRPCAddr); err != nil {
			p.Close()
			return nil, err
		}
		// The gRPC server counts each connection's calls in flight here
		// (GRPCServer); at the limit the connection without one that was
		// quiet longest (netx.DefaultQuietAfter at least) is evicted.
		p.grpcLimit = netx.Limit(p.grpcLn, 0)
		p.grpcLn = p.grpcLimit
		p.OnClose(p.grpcLn)
	}
	tracer, closer, err := tracing.New(tracing.Config{
		Service: cfg.Name, HostPort: p.advertised(p.httpLn),
		ZipkinURL: cfg.ZipkinURL, SampleRate: sampleRate(cfg.TraceSampleRate),
		Metrics: p.Metrics, Logger: log.With(logger, "component", "zipkin-reporter"),
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	p.Tracer = tracer
	p.OnClose(closer)
	if p.RED, err = metrics.NewRED(p.Metrics, cfg.Name); err != nil {
		p.Close()
		return nil, err
	}
	p.Chain = mw.Chain{
		Service: cfg.Name, Logger: logger, Tracer: tracer, RED: p.RED,
		Limit: rate.Limit(cfg.RateLimit), Burst: cfg.RateBurst,
		Shed:           mw.NewShedder(mw.DefaultMaxInFlight),
		QuietSuccesses: !strings.EqualFold(cfg.LogLevel, "debug"),
	}
	_ = level.Info(logger).Log("msg", "starting", "config", cfg.String(),
		"http_addr", p.HTTPAddr(), "grpc_addr", p.GRPCAddr())
	p.logIdentity()
	if faults.Enabled() {
		// Loud on purpose: an instance failing calls on purpose must be
		// obvious to whoever reads its log.
		_ = level.Warn(logger).Log("msg", "FAULT INJECTION IS ON: this instance fails or slows API calls on purpose (test setting)",
			"fault", faults.String())
	}
	return p, nil
}

// sampleRate maps the config's 0 ("sample nothing") onto tracing's
// explicit never-sample value; tracing reads 0 as "default".
func sampleRate(r float64) float64 {
	if r == 0 {
		return tracing.NeverSample
	}
	return r
}

// HTTPAddr is the address other processes reach this one's HTTP port at.
func (p *Process) HTTPAddr() string { return p.advertised(p.httpLn) }

// GRPCAddr is the address other processes reach this one's gRPC port at,
// or "" when the process serves no gRPC.
func (p *Process) GRPCAddr() string { return p.advertised(p.grpcLn) }

// advertised turns a wildcard listen address (":8081" listens on every
// interface) into one a peer can dial, using Config.AdvertiseHost.
func (p *Process) advertised(l net.Listener) string {
	if l == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return l.Addr().String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = p.Config.AdvertiseHost
	}
	return net.JoinHostPort(host, port)
}

// OnClose registers c to be closed at the very end of shutdown, after the
// servers have drained; the last registered is closed first.
func (p *Process) OnClose(c io.Closer) { p.closers = append(p.closers, c) }

// Close releases everything registered with OnClose. Run does this itself;
// Close is for a process that fails before it gets to Run.
func (p *Process) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		if err := p.closers[i].Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	p.closers = nil
	return errors.Join(errs...)
}

// GRPCServer returns a gRPC server with kitshop's health (following
// Ready), reflection, tracing, logging, metrics and recovery. Register the
// service on it before Run.
//
// Under mTLS the server presents the process's certificate and verifies
// callers' certificates; pass AllowCallers to restrict internal methods.
func (p *Process) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	if p.TLS != nil {
		opts = append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(p.TLS.ServerConfig()))}, opts...)
	}
	if p.fault != nil {
		// Innermost of the server's interceptors, so logs, traces and
		// metrics see an injected failure as the caller does.
		opts = append(opts, grpc.ChainUnaryInterceptor(p.fault.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(p.fault.StreamServerInterceptor()))
	}
	return grpcx.NewServer(grpcx.ServerConfig{
		Service: p.Config.Name, Logger: p.Logger, Tracer: p.Tracer, RED: p.RED, Readiness: p.Ready,
		ConnLimit: p.grpcLimit,
	}, opts...)
}

// Etcd returns the registry client, created on first use, or nil when no
// endpoints are configured. The client connects lazily: a registry that is
// down does not stop the process.
func (p *Process) Etcd() (*clientv3.Client, error) {
	p.etcdOnce.Do(func() {
		if len(p.Config.EtcdEndpoints) == 0 {
			return
		}
		p.etcd, p.etcdErr = sd.NewClientTLS(p.Config.EtcdEndpoints, p.clientTLS(RegistryService))
		if p.etcdErr == nil {
			p.OnClose(p.etcd)
		}
	})
	return p.etcd, p.etcdErr
}

// Handler wraps a service's routes with the platform endpoints
// (/health/live, /health/ready, /metrics) and the request middleware every
// process shares: request ids, tracing with traceparent, HTTP metrics,
// one log line per request (httpx.AccessLog), panic recovery. It also
// hands the process's RED to the routes (metrics.WithRED), so that every
// kit/rest route records its calls per route template (transport
// "route") with nothing to wire in the service or the gateway.
func (p *Process) Handler(routes http.Handler) http.Handler {
	root := httpx.NewRouter()
	httpx.Platform(root, p.Ready, p.Metrics)
	// Everything but the platform paths goes to the service. Excluding
	// them (rather than a catch-all) keeps a wrong method on /metrics a
	// 405 with Allow from root, not a 404 from the service's router.
	root.MatcherFunc(func(r *http.Request, _ *mux.RouteMatch) bool { return !platformPaths[r.URL.Path] }).Handler(p.fault.HTTP(routes))
	return httpx.RequestID(tracing.HTTPServer(p.Tracer, httpx.Metrics(p.RED)(
		httpx.AccessLog(p.Logger)(metrics.WithRED(p.RED)(httpx.Recover(p.Logger)(root))))))
}

var platformPaths = map[string]bool{"/health/live": true, "/health/ready": true, "/metrics": true}

// Run serves routes over HTTP and grpcSrv (nil for none) over gRPC,
// registers the instance in etcd once ready, runs jobs in the background,
// and on SIGTERM/SIGINT or ctx's end shuts down in order: deregister, fail
// readiness, drain, stop jobs, close (see kit/lifecycle).
//
// Besides jobs it runs Ready's Monitor, so that the gRPC health service
// turns NOT_SERVING when a readiness check (such as the Postgres ping)
// fails, as /health/ready does, and SERVING again when it recovers.
func (p *Process) Run(ctx context.Context, routes http.Handler, grpcSrv *grpc.Server, jobs ...func(context.Context) error) error {
	ctx, stop := lifecycle.SignalContext(ctx)
	defer stop()

	httpSrv := httpx.NewServer(p.httpLn.Addr().String(), p.Handler(routes))
	httpx.TrackIdle(httpSrv, p.httpLimit)
	app := &lifecycle.App{
		Name: p.Config.Name, Logger: p.Logger, Readiness: p.Ready,
		HTTP: httpSrv, HTTPListener: p.httpListener(),
		Jobs: append(slices.Clone(jobs), p.monitorReadiness), DrainTimeout: p.Config.DrainTimeout,
		DeregisterGrace: p.Config.DeregisterGrace,
	}
	if grpcSrv != nil {
		if p.grpcLn == nil {
			return errors.New("boot: a gRPC server needs -grpc-addr")
		}
		app.GRPC, app.GRPCListener = grpcSrv, p.grpcLn
	}
	client, err := p.Etcd()
	switch {
	case err != nil:
		_ = level.Warn(p.Logger).Log("msg", "registry client unavailable; serving unregistered", "err", err)
	case client == nil:
		_ = level.Info(p.Logger).Log("msg", "no etcd endpoints configured; serving unregistered")
	default:
		app.Registrar = sd.NewRegistrar(client, p.Instance(), p.Config.RegisterTTL, p.Logger)
		_ = level.Info(p.Logger).Log("msg", "registering", "etcd", fmt.Sprint(p.Config.EtcdEndpoints))
	}
	app.Closers = append(app.Closers, lifecycle.CloserFunc(p.Close))
	// One round of the readiness checks before the lifecycle declares the
	// process ready; the monitor job keeps them fresh from then on.
	p.Ready.CheckOnce(ctx)
	return app.Run(ctx)
}

// monitorReadiness keeps Ready's serving verdict, which gRPC health
// follows, in step with the readiness checks. It is appended after the
// service's jobs so their numbers in lifecycle logs stay the same.
func (p *Process) monitorReadiness(ctx context.Context) error {
	return p.Ready.Monitor(ctx, health.DefaultMonitorInterval)
}

// Instance is what this process registers as.
func (p *Process) Instance() sd.Instance {
	return sd.Instance{
		ID: p.id, Name: p.Config.Name, Version: p.Config.Version,
		HTTPAddr: p.HTTPAddr(), GRPCAddr: p.GRPCAddr(), RegisteredAt: time.Now().UTC(),
	}
}
