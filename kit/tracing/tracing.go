// Package tracing sets up kitshop's Zipkin tracer and the propagation glue
// around it: B3 (Zipkin's native headers and gRPC metadata) between kitshop
// processes, and W3C traceparent at the HTTP edge, where browsers, curl
// scripts and other vendors' agents speak it.
//
// Trace ids are 128-bit so a W3C trace id (32 hex digits) round-trips
// unchanged through Zipkin.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/go-kit/log"
	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/openzipkin/zipkin-go/reporter"
	"github.com/prometheus/client_golang/prometheus"
)

// Environment variables read by ConfigFromEnv (see API.md).
const (
	EnvZipkinURL  = "KITSHOP_ZIPKIN_URL"
	EnvSampleRate = "KITSHOP_TRACE_SAMPLE_RATE"
)

// NeverSample as Config.SampleRate records no trace at all. Traces are still
// propagated, so downstream processes and logs keep the ids.
const NeverSample = -1

// Config describes one process's tracer.
type Config struct {
	// Service is the local service name shown in Zipkin (users, gateway...).
	Service string
	// HostPort is the local address recorded on spans, e.g. "127.0.0.1:9081".
	// Host names are not resolved (tracer set-up never touches the network);
	// only an IP literal and the port are recorded. Empty is allowed.
	HostPort string
	// ZipkinURL is the Zipkin v2 spans endpoint, e.g.
	// http://127.0.0.1:9411/api/v2/spans. Empty means spans are created and
	// propagated but reported nowhere.
	ZipkinURL string
	// SampleRate is the fraction of new traces recorded, in (0, 1]. Zero
	// means the default, 1; NeverSample (any negative value) records none.
	// A caller's sampling decision, carried in B3 or traceparent, wins.
	SampleRate float64
	// Metrics, when set, registers the reporter's counters of spans
	// reported and dropped (kitshop_tracing_spans_*_total{service}).
	Metrics prometheus.Registerer
	// Logger hears when the collector stops and starts answering; nil
	// logs JSON to stderr.
	Logger log.Logger
}

// ConfigFromEnv reads KITSHOP_ZIPKIN_URL and KITSHOP_TRACE_SAMPLE_RATE.
// An explicit rate of 0 becomes NeverSample.
func ConfigFromEnv(service, hostPort string) (Config, error) {
	c := Config{Service: service, HostPort: hostPort, ZipkinURL: os.Getenv(EnvZipkinURL)}
	if s := strings.TrimSpace(os.Getenv(EnvSampleRate)); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r < 0 || r > 1 {
			return Config{}, fmt.Errorf("tracing: %s=%q: want a number in [0, 1]", EnvSampleRate, s)
		}
		if r == 0 {
			r = NeverSample
		}
		c.SampleRate = r
	}
	return c, nil
}

// New builds a tracer for cfg. The returned Closer flushes and stops the
// reporter; call it on shutdown, after servers have drained, so the last
// spans are sent.
func New(cfg Config) (*zipkin.Tracer, io.Closer, error) {
	sampler, err := newSampler(cfg.SampleRate)
	if err != nil {
		return nil, nil, err
	}
	ep, err := localEndpoint(cfg.Service, cfg.HostPort)
	if err != nil {
		return nil, nil, err
	}
	rep, err := newReporter(cfg)
	if err != nil {
		return nil, nil, err
	}
	tracer, err := zipkin.NewTracer(rep,
		zipkin.WithLocalEndpoint(ep),
		zipkin.WithSampler(sampler),
		zipkin.WithTraceID128Bit(true),
		// Each hop gets its own span id, as W3C Trace Context assumes:
		// a traceparent we send back then names our span, not the caller's.
		zipkin.WithSharedSpans(false),
		// An unsampled call gets a span that only carries the trace
		// context on (ids, the sampling decision) and records nothing:
		// at a production sample rate most calls then pay next to
		// nothing for tracing.
		zipkin.WithNoopSpan(true),
	)
	if err != nil {
		_ = rep.Close()
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	if cfg.SampleRate != 0 && cfg.SampleRate < 1 {
		// See UnsampledRoot; at rate 1 the tracer samples everything
		// and needs no decision ahead of it.
		samplers.Store(tracer, sampler)
	}
	setDefault(tracer)
	return tracer, closer{tracer: tracer, rep: rep}, nil
}

func newSampler(rate float64) (zipkin.Sampler, error) {
	switch {
	case rate < 0:
		return zipkin.NeverSample, nil
	case rate == 0 || rate == 1:
		return zipkin.AlwaysSample, nil
	case rate > 1:
		return nil, fmt.Errorf("tracing: sample rate %v is above 1", rate)
	}
	// The boundary sampler decides on the trace id, so every process of a
	// trace that starts here makes the same decision.
	s, err := zipkin.NewBoundarySampler(rate, 0)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return s, nil
}

// newReporter is the reporter for cfg: kitshop's HTTP reporter
// (reporter.go), or none when no collector is configured. The counters
// are registered either way, so a dashboard finds them at zero.
func newReporter(cfg Config) (reporter.Reporter, error) {
	if cfg.ZipkinURL == "" {
		if _, _, err := reporterCounters(cfg.Metrics, cfg.Service); err != nil {
			return nil, err
		}
		return reporter.NewNoopReporter(), nil
	}
	return NewHTTPReporter(cfg.ZipkinURL, ReporterOptions{Service: cfg.Service, Metrics: cfg.Metrics, Logger: cfg.Logger})
}

// localEndpoint is zipkin.NewEndpoint without its DNS lookup: a tracer is
// built at start-up, where a slow resolver must not delay or fail the process.
func localEndpoint(service, hostPort string) (*model.Endpoint, error) {
	if service == "" {
		return nil, errors.New("tracing: Config.Service is required")
	}
	ep := &model.Endpoint{ServiceName: service}
	if hostPort == "" {
		return ep, nil
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, fmt.Errorf("tracing: HostPort %q: %w", hostPort, err)
	}
	if port != "" {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("tracing: HostPort %q: bad port", hostPort)
		}
		ep.Port = uint16(p)
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip4 := ip.To4(); ip4 != nil {
			ep.IPv4 = ip4
		} else {
			ep.IPv6 = ip
		}
	}
	return ep, nil
}

// TraceID is the id of the trace that ctx's span belongs to, as 32 lower-case
// hex digits (64-bit ids from old B3 callers are zero-padded on the left, as
// W3C does), or "" when ctx carries no span.
func TraceID(ctx context.Context) string {
	sp := zipkin.SpanFromContext(ctx)
	if sp == nil {
		return ""
	}
	return FormatTraceID(sp.Context().TraceID)
}

// FormatTraceID spells tid as TraceID does: 32 lower-case hex digits, or
// "" for an empty id.
func FormatTraceID(tid model.TraceID) string {
	if tid.Empty() {
		return ""
	}
	return fmt.Sprintf("%016x%016x", tid.High, tid.Low)
}
