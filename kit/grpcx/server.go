package grpcx

import (
	"runtime"
	"time"

	"github.com/go-kit/log"
	"github.com/openzipkin/zipkin-go"
	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/netx"
)

// ServerConfig is what NewServer wires in. Nil Logger, Tracer, RED or
// Readiness leave out logging, tracing, metrics or health-following.
type ServerConfig struct {
	// Service names the process (users, products...). The health service
	// reports under this name as well as under "" and every registered
	// gRPC service's full name.
	Service   string
	Logger    log.Logger
	Tracer    *zipkin.Tracer
	RED       *metrics.RED
	Readiness *health.Readiness
	// ConnLimit is the listener the server will Serve, when it is a
	// kit/netx.Limit: the server counts each connection's calls in flight
	// there (netx.LimitListener.Calls), so that at the limit a connection
	// whose only call is slow and quiet is never evicted as idle. Nil
	// leaves the listener judging connections by their I/O alone.
	ConnLimit *netx.LimitListener

	// Connection and call limits; zero means the default constant.
	MaxStreams       uint32        // concurrent streams per connection (MaxStreamsPerConn)
	HandshakeTimeout time.Duration // for a new connection's HTTP/2 preface (HandshakeTimeout)
	DefaultTimeout   time.Duration // deadline of a unary call that has none (DefaultTimeout)
	MaxTimeout       time.Duration // longest deadline a unary call keeps (MaxTimeout)
}

// Connection limits. 5,000 WatchStock streams on one connection took a
// server from 37 MB to 313 MB; with the stream limit a client's extra
// streams wait on its side for a free slot (grpc-go queues them until
// their deadline) instead of costing the server memory. A connection that
// has not sent its HTTP/2 preface within HandshakeTimeout is closed, so
// idle handshake-less connections cannot pile up (kit/netx.Limit bounds
// how many exist at once). An idle connection, one with no stream for
// MaxConnectionIdle, is closed with a GOAWAY; clients reconnect
// transparently on their next call.
const (
	MaxStreamsPerConn = 128
	HandshakeTimeout  = 5 * time.Second
	MaxConnectionIdle = 15 * time.Minute
	// MaxHeaderListSize matches kit/httpx's MaxHeaderBytes; grpc-go's
	// default is 16 MB.
	MaxHeaderListSize = 64 << 10
)

// Keepalive policy. Clients (see Dial) ping every clientPingEvery; the
// server tolerates pings down to half that, so a client is never sent
// GOAWAY "too_many_pings" for following our own defaults.
const (
	clientPingEvery   = 30 * time.Second
	clientPingTimeout = 10 * time.Second
	serverMinPing     = 15 * time.Second
	serverPingEvery   = time.Minute
	serverPingTimeout = 20 * time.Second
)

// NewServer returns a gRPC server with:
//   - grpc.health.v1.Health, SERVING only while cfg.Readiness's serving
//     verdict holds (declared ready and, once its Monitor runs, every
//     check passing; the same verdict as /health/ready) and NOT_SERVING
//     otherwise, under "", cfg.Service and each registered service's full
//     name;
//   - server reflection, so grpcurl works without .proto files;
//   - one stats handler (serverStats): the Zipkin server span per RPC,
//     B3 from metadata, the report of calls failing before any
//     interceptor, and the count of each connection's calls in flight
//     for cfg.ConnLimit;
//   - keepalive enforcement, so dead peers are noticed and abusive pings
//     refused, and idle connections closed;
//   - at most MaxStreamsPerConn concurrent streams per connection and a
//     HandshakeTimeout for new connections;
//   - a request payload that does not decode (broken wire encoding,
//     invalid UTF-8 in a string field) answered InvalidArgument
//     MALFORMED_MESSAGE before any handler runs, and reported as the
//     client's error, never as Internal (serverCodec);
//   - unary interceptors: error conversion, request id, the call's log
//     line and the count of failures outside the endpoint chain
//     (outcome), a
//     deadline for every call (DefaultTimeout, at most MaxTimeout),
//     refusal of undecodable requests and of control characters in any
//     string field (CheckText), panic recovery;
//   - stream interceptors: error conversion, request id, logging, metrics,
//     refusal of undecodable messages and control characters on every
//     received message, panic recovery.
//
// opts are appended last. Register every service before the process is
// declared ready: health statuses are set per registered service when the
// verdict changes.
//
// Shutting down: health Watch streams (and any other long-lived stream) last
// until their clients hang up, so GracefulStop alone can wait forever. Use
// Stop(ctx, srv), which falls back to a hard stop when ctx ends.
func NewServer(cfg ServerConfig, opts ...grpc.ServerOption) *grpc.Server {
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	base := []grpc.ServerOption{
		// Reused workers keep the stacks our interceptor chain grows;
		// a fresh goroutine per RPC re-grew (copied) its stack on every
		// call, 9% of the CPU in BenchmarkGetUser. When every worker is
		// busy grpc-go still spawns a goroutine, so nothing queues.
		grpc.NumStreamWorkers(streamWorkers()),
		// A request that does not decode is the client's error
		// (InvalidArgument MALFORMED_MESSAGE), not Internal: see
		// serverCodec.
		grpc.ForceServerCodecV2(newServerCodec()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             serverMinPing,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:              serverPingEvery,
			Timeout:           serverPingTimeout,
			MaxConnectionIdle: MaxConnectionIdle,
		}),
		grpc.MaxConcurrentStreams(orDefault(cfg.MaxStreams, MaxStreamsPerConn)),
		grpc.ConnectionTimeout(orDefault(cfg.HandshakeTimeout, HandshakeTimeout)),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.ChainUnaryInterceptor((&unaryChain{
			logger: cfg.Logger, debug: logx.DebugEnabled(cfg.Logger), red: cfg.RED,
			defaultTimeout: orDefault(cfg.DefaultTimeout, DefaultTimeout),
			maxTimeout:     orDefault(cfg.MaxTimeout, MaxTimeout),
		}).intercept),
		grpc.ChainStreamInterceptor(
			streamErrors(),
			streamRequestID(),
			streamLogging(cfg.Logger),
			streamMetrics(cfg.RED),
			streamValidate(),
			streamRecovery(cfg.Logger),
		),
	}
	base = append(base, grpc.StatsHandler(newServerStats(cfg.Tracer, earlyFailures{logger: cfg.Logger, red: cfg.RED}, cfg.ConnLimit)))
	srv := grpc.NewServer(append(base, opts...)...)

	hs := grpchealth.NewServer()
	healthgrpc.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	followReadiness(srv, hs, cfg)
	return srv
}

// followReadiness mirrors cfg.Readiness's serving verdict into the health
// service. It follows the checks too, not only the lifecycle's SetReady:
// an instance that lost its database must leave rotation for gRPC clients
// just as it does for HTTP probes. Without a Readiness the server is
// SERVING as soon as it exists, which is what a plain grpc-go server
// reports too.
func followReadiness(srv *grpc.Server, hs *grpchealth.Server, cfg ServerConfig) {
	if cfg.Readiness == nil {
		return
	}
	cfg.Readiness.SubscribeServing(func(ready bool) {
		st := healthgrpc.HealthCheckResponse_NOT_SERVING
		if ready {
			st = healthgrpc.HealthCheckResponse_SERVING
		}
		hs.SetServingStatus("", st)
		for name := range srv.GetServiceInfo() {
			if name == healthgrpc.Health_ServiceDesc.ServiceName || isReflection(name) {
				continue
			}
			hs.SetServingStatus(name, st)
		}
		// The process's own name last: a client watching it learns of
		// the change only once every other name says the same.
		if cfg.Service != "" {
			hs.SetServingStatus(cfg.Service, st)
		}
	})
}

func isReflection(name string) bool {
	return name == "grpc.reflection.v1.ServerReflection" || name == "grpc.reflection.v1alpha.ServerReflection"
}

func streamWorkers() uint32 {
	return uint32(max(64, 16*runtime.GOMAXPROCS(0)))
}

// orDefault is v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
