package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Defaults shared by every process (see API.md, "Configuration").
const (
	DefaultEtcdEndpoints      = "127.0.0.1:2379"
	DefaultTraceSampleRate    = 1.0
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenTimeout = 60 * time.Second
	DefaultBreakerProbes      = 3
	DefaultRegisterTTL        = 10 * time.Second
	DefaultDrainTimeout       = 15 * time.Second
	DefaultStartupTimeout     = 30 * time.Second
	DefaultDeregisterGrace    = 1500 * time.Millisecond
	DefaultLogLevel           = "info"
	DefaultAdvertiseHost      = "127.0.0.1"
)

// Service holds the settings every kitshop process shares. Build it with
// ParseService (or DefineService plus Parse and Validate). Print it only
// through String, LogValues or MarshalJSON, which redact credentials.
type Service struct {
	// Name is the service name ("users"); it is fixed by the program.
	Name string
	// Version is what the instance registers as (KITSHOP_SERVICE_VERSION,
	// default BuildVersion()); a canary runs two side by side.
	Version string
	// HTTPAddr and GRPCAddr are listen addresses; ":0" picks a free port.
	// An empty GRPCAddr means the process serves no gRPC (the gateway).
	HTTPAddr string
	GRPCAddr string
	// EtcdEndpoints is the registry; empty disables registration and
	// discovery.
	EtcdEndpoints []string
	// DatabaseURL is the Postgres URL (KITSHOP_<NAME>_DATABASE_URL, else
	// DATABASE_URL). Empty means the in-memory store. It may hold a
	// password: never print it directly.
	DatabaseURL string
	// ZipkinURL is the Zipkin v2 spans endpoint; empty means no reporting.
	ZipkinURL string
	// TraceSampleRate is the fraction of new traces sampled, 0..1.
	TraceSampleRate float64
	// BreakerFailures consecutive infrastructure failures of one backend
	// open the calling side's breaker for it (servers have none), which
	// stays open for BreakerOpenTimeout before probing again.
	BreakerFailures    int
	BreakerOpenTimeout time.Duration
	// BreakerProbes is how many calls a half-open breaker lets through;
	// that many successes in a row close it.
	BreakerProbes int
	// RateLimit is the per-method server-side limit in requests per
	// second (0 = off), with bursts of up to RateBurst (0 = the rate
	// rounded up, at least 1; Validate fills it in).
	RateLimit float64
	RateBurst int
	// RegisterTTL is the etcd lease TTL: how long a crashed instance stays
	// listed.
	RegisterTTL time.Duration
	// DrainTimeout bounds graceful shutdown of in-flight work.
	DrainTimeout time.Duration
	// StartupTimeout bounds the wait for dependencies at start-up (the
	// database and its migrations): past it the process exits with an
	// error instead of hanging.
	StartupTimeout time.Duration
	// DeregisterGrace is how long shutdown keeps serving after leaving the
	// registry and before closing its listeners, so that callers whose
	// view of the registry is a moment old still reach a live server.
	DeregisterGrace time.Duration
	// TLSCA, TLSCert and TLSKey are PEM files: the CA that signs every
	// kitshop certificate, and this process's certificate and private key.
	// All three or none (Validate checks they load); with them set, the
	// process speaks mTLS (see UsesTLS).
	TLSCA, TLSCert, TLSKey string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// AdvertiseHost is the host registered for listeners bound to every
	// interface (":8081"); peers dial it. Default 127.0.0.1, for one
	// machine; set it to the pod or host IP in a real deployment.
	AdvertiseHost string
}

// UsesMemoryStore reports whether the process runs without Postgres.
func (s Service) UsesMemoryStore() bool { return s.DatabaseURL == "" }

// UsesTLS reports whether the TLS files are configured (Validate has
// checked that then all three are, and that they load).
func (s Service) UsesTLS() bool { return s.TLSCA != "" && s.TLSCert != "" && s.TLSKey != "" }

// ParseService defines the shared flags for service name on a new
// FlagSet, lets each extra function add the service's own flags (they are
// parsed with the rest, so -h lists them all), parses args with
// environment fallbacks and validates the result:
//
//	var adminEmail *string
//	svc, err := config.ParseService("users", ":8081", ":9081", os.Args[1:], func(fs *flag.FlagSet) {
//		adminEmail = config.String(fs, "admin-email", "KITSHOP_ADMIN_EMAIL", "", "bootstrap admin e-mail")
//	})
//	if errors.Is(err, flag.ErrHelp) { os.Exit(0) }
//
// defGRPC "" defines -grpc-addr with an empty default, for processes
// without a gRPC server.
func ParseService(name, defHTTP, defGRPC string, args []string, extra ...func(fs *flag.FlagSet)) (Service, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	svc := DefineService(fs, name, defHTTP, defGRPC)
	for _, f := range extra {
		f(fs)
	}
	if err := Parse(fs, args); err != nil {
		return Service{}, err
	}
	if err := svc.Validate(); err != nil {
		return Service{}, err
	}
	return *svc, nil
}

// DefineService defines the shared flags on fs and returns the Service
// they fill in once fs is parsed (with Parse). Call Validate afterwards.
func DefineService(fs *flag.FlagSet, name, defHTTP, defGRPC string) *Service {
	s := &Service{Name: name}
	fs.StringVar(&s.Version, "service-version", BuildVersion(), "version this instance registers as")
	bindEnv(fs, "service-version", "a string", "KITSHOP_SERVICE_VERSION")
	fs.StringVar(&s.HTTPAddr, "http-addr", defHTTP, "HTTP listen address (:0 picks a free port)")
	bindEnv(fs, "http-addr", "a string", "KITSHOP_HTTP_ADDR")
	fs.StringVar(&s.GRPCAddr, "grpc-addr", defGRPC, "gRPC listen address (:0 picks a free port)")
	bindEnv(fs, "grpc-addr", "a string", "KITSHOP_GRPC_ADDR")
	s.EtcdEndpoints = SplitList(DefaultEtcdEndpoints)
	fs.Var((*listValue)(&s.EtcdEndpoints), "etcd-endpoints", "comma-separated etcd endpoints; empty disables registration")
	bindEnv(fs, "etcd-endpoints", "a comma-separated list", "KITSHOP_ETCD_ENDPOINTS")
	fs.StringVar(&s.DatabaseURL, "database-url", "", "Postgres URL; empty uses the in-memory store")
	bindEnv(fs, "database-url", "a string", "KITSHOP_"+envName(name)+"_DATABASE_URL", "DATABASE_URL")
	fs.StringVar(&s.ZipkinURL, "zipkin-url", "", "Zipkin v2 spans endpoint; empty disables reporting")
	bindEnv(fs, "zipkin-url", "a string", "KITSHOP_ZIPKIN_URL")
	fs.Float64Var(&s.TraceSampleRate, "trace-sample-rate", DefaultTraceSampleRate, "fraction of new traces sampled, 0..1")
	bindEnv(fs, "trace-sample-rate", "a number", "KITSHOP_TRACE_SAMPLE_RATE")
	fs.IntVar(&s.BreakerFailures, "breaker-failures", DefaultBreakerFailures, "consecutive infrastructure failures of a backend that open the caller's circuit breaker for it")
	bindEnv(fs, "breaker-failures", "an integer", "KITSHOP_BREAKER_FAILURES")
	fs.DurationVar(&s.BreakerOpenTimeout, "breaker-open-timeout", DefaultBreakerOpenTimeout, "how long a caller's open breaker waits before probing its backend again")
	bindEnv(fs, "breaker-open-timeout", "a duration such as 15s or 1m30s", "KITSHOP_BREAKER_OPEN_TIMEOUT")
	fs.IntVar(&s.BreakerProbes, "breaker-probes", DefaultBreakerProbes, "probe calls a half-open breaker lets through; that many successes close it")
	bindEnv(fs, "breaker-probes", "an integer", "KITSHOP_BREAKER_PROBES")
	fs.Float64Var(&s.RateLimit, "rate-limit", 0, "per-method request limit per second; 0 disables")
	bindEnv(fs, "rate-limit", "a number", "KITSHOP_RATE_LIMIT")
	fs.IntVar(&s.RateBurst, "rate-burst", 0, "per-method burst; 0 means the rate rounded up")
	bindEnv(fs, "rate-burst", "an integer", "KITSHOP_RATE_BURST")
	fs.DurationVar(&s.RegisterTTL, "register-ttl", DefaultRegisterTTL, "etcd lease TTL of this instance's registration")
	bindEnv(fs, "register-ttl", "a duration such as 15s or 1m30s", "KITSHOP_REGISTER_TTL")
	fs.DurationVar(&s.DrainTimeout, "drain-timeout", DefaultDrainTimeout, "how long shutdown waits for in-flight work")
	bindEnv(fs, "drain-timeout", "a duration such as 15s or 1m30s", "KITSHOP_DRAIN_TIMEOUT")
	fs.DurationVar(&s.StartupTimeout, "startup-timeout", DefaultStartupTimeout, "how long start-up waits for the database (and migrations) before giving up")
	bindEnv(fs, "startup-timeout", "a duration such as 15s or 1m30s", "KITSHOP_STARTUP_TIMEOUT")
	fs.DurationVar(&s.DeregisterGrace, "deregister-grace", DefaultDeregisterGrace, "how long shutdown keeps serving between leaving the registry and closing its listeners; 0 disables")
	bindEnv(fs, "deregister-grace", "a duration such as 1.5s", "KITSHOP_DEREGISTER_GRACE")
	fs.StringVar(&s.TLSCA, "tls-ca", "", "PEM file of the CA that signs kitshop certificates; with -tls-cert and -tls-key enables mTLS")
	bindEnv(fs, "tls-ca", "a string", "KITSHOP_TLS_CA")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "PEM file of this process's certificate (naming its service)")
	bindEnv(fs, "tls-cert", "a string", "KITSHOP_TLS_CERT")
	fs.StringVar(&s.TLSKey, "tls-key", "", "PEM file of the private key of -tls-cert")
	bindEnv(fs, "tls-key", "a string", "KITSHOP_TLS_KEY")
	fs.StringVar(&s.AdvertiseHost, "advertise-host", DefaultAdvertiseHost, "host peers dial for listeners bound to every interface")
	bindEnv(fs, "advertise-host", "a string", "KITSHOP_ADVERTISE_HOST")
	fs.StringVar(&s.LogLevel, "log-level", DefaultLogLevel, "debug, info, warn or error")
	bindEnv(fs, "log-level", "a string", "KITSHOP_LOG_LEVEL")
	return s
}

// envName turns a service name into its environment spelling:
// "users" -> "USERS", "stock-watcher" -> "STOCK_WATCHER".
func envName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, name)
}

// Validate checks every setting, reporting all problems at once, and fills
// in derived defaults (RateBurst).
func (s *Service) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	if s.Name == "" {
		bad("service name is empty")
	}
	if s.HTTPAddr == "" {
		bad("-http-addr is empty")
	}
	if s.ZipkinURL != "" {
		if u, err := url.Parse(s.ZipkinURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("-zipkin-url %s is not an http(s) URL", RedactURL(s.ZipkinURL))
		}
	}
	if math.IsNaN(s.TraceSampleRate) || s.TraceSampleRate < 0 || s.TraceSampleRate > 1 {
		bad("-trace-sample-rate %v is outside 0..1", s.TraceSampleRate)
	}
	if s.BreakerFailures < 1 {
		bad("-breaker-failures %d must be at least 1", s.BreakerFailures)
	}
	if s.BreakerProbes < 1 {
		bad("-breaker-probes %d must be at least 1", s.BreakerProbes)
	}
	if s.BreakerOpenTimeout <= 0 {
		bad("-breaker-open-timeout %v must be positive", s.BreakerOpenTimeout)
	}
	if math.IsNaN(s.RateLimit) || math.IsInf(s.RateLimit, 0) || s.RateLimit < 0 {
		bad("-rate-limit %v must be a finite number >= 0", s.RateLimit)
	}
	if s.RateBurst < 0 {
		bad("-rate-burst %d must not be negative", s.RateBurst)
	}
	if s.RateBurst == 0 && s.RateLimit > 0 && !math.IsInf(s.RateLimit, 0) {
		s.RateBurst = max(1, int(math.Ceil(s.RateLimit)))
	}
	// etcd leases count whole seconds.
	if s.RegisterTTL < time.Second {
		bad("-register-ttl %v must be at least 1s", s.RegisterTTL)
	}
	if s.DrainTimeout <= 0 {
		bad("-drain-timeout %v must be positive", s.DrainTimeout)
	}
	if s.StartupTimeout <= 0 {
		bad("-startup-timeout %v must be positive", s.StartupTimeout)
	}
	if s.DeregisterGrace < 0 || s.DeregisterGrace > maxDeregisterGrace {
		bad("-deregister-grace %v must be between 0 and %v", s.DeregisterGrace, maxDeregisterGrace)
	}
	errs = append(errs, s.validateTLS()...)
	if strings.TrimSpace(s.AdvertiseHost) == "" {
		bad("-advertise-host is empty")
	}
	switch strings.ToLower(s.LogLevel) {
	case "debug", "info", "warn", "error":
		s.LogLevel = strings.ToLower(s.LogLevel)
	default:
		bad("-log-level %q is not debug, info, warn or error", s.LogLevel)
	}
	return errors.Join(errs...)
}

// LogValues returns the settings as go-kit log key-values, credentials
// redacted: logger.Log(append([]any{"msg", "config"}, svc.LogValues()...)...).
func (s Service) LogValues() []any {
	db := "memory"
	if s.DatabaseURL != "" {
		db = RedactURL(s.DatabaseURL)
	}
	zipkinURL := "off"
	if s.ZipkinURL != "" {
		zipkinURL = RedactURL(s.ZipkinURL)
	}
	grpcAddr := s.GRPCAddr
	if grpcAddr == "" {
		grpcAddr = "off"
	}
	etcd := strings.Join(s.EtcdEndpoints, ",")
	if etcd == "" {
		etcd = "off"
	}
	return []any{
		"service", s.Name,
		"version", s.Version,
		"http_addr", s.HTTPAddr,
		"grpc_addr", grpcAddr,
		"etcd_endpoints", etcd,
		"database", db,
		"zipkin_url", zipkinURL,
		"trace_sample_rate", s.TraceSampleRate,
		"breaker_failures", s.BreakerFailures,
		"breaker_open_timeout", s.BreakerOpenTimeout.String(),
		"breaker_probes", s.BreakerProbes,
		"rate_limit", s.RateLimit,
		"rate_burst", s.RateBurst,
		"register_ttl", s.RegisterTTL.String(),
		"drain_timeout", s.DrainTimeout.String(),
		"startup_timeout", s.StartupTimeout.String(),
		"deregister_grace", s.DeregisterGrace.String(),
		"tls", s.tlsSummary(),
		"log_level", s.LogLevel,
		"advertise_host", s.AdvertiseHost,
	}
}

// String is LogValues as "key=value ..." text, so printing a Service with
// %v or %+v cannot leak its database password.
func (s Service) String() string {
	kv := s.LogValues()
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%v=%v", kv[i], kv[i+1])
	}
	return b.String()
}

// GoString keeps %#v redacted too.
func (s Service) GoString() string { return "config.Service{" + s.String() + "}" }

// MarshalJSON writes the redacted LogValues, so JSON loggers and debug
// endpoints that marshal a Service cannot leak its credentials either.
func (s Service) MarshalJSON() ([]byte, error) {
	kv := s.LogValues()
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return json.Marshal(m)
}
