package tracing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/openzipkin/zipkin-go/reporter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
)

// Why not zipkin-go's reporter/http: its Send blocks on an unbuffered
// channel (and forever once the reporter is closed), it keeps a failed
// batch and posts it again and again while the collector is down, and
// it drops spans past its backlog without counting them. A request must
// never wait for the tracing backend, and an operator must be able to see
// what was lost, so kitshop reports with this one: a bounded queue that
// Send never blocks on, one background goroutine that batches and posts,
// and counters for what was reported and what was dropped.

// Reporter defaults (ReporterOptions' zero values).
const (
	DefaultQueueSize     = 4096
	DefaultBatchSize     = 256
	DefaultBatchInterval = time.Second
	DefaultPostTimeout   = 5 * time.Second
	// DefaultCloseTimeout bounds the last post at shutdown: a collector
	// that hangs must not hold up a process that is stopping.
	DefaultCloseTimeout = 2 * time.Second
	// maxBackoff bounds how long the reporter waits, after failed posts,
	// before it tries the collector again; spans meanwhile are dropped.
	maxBackoff = 30 * time.Second
)

// Metric names of the reporter's counters (label service).
const (
	MetricSpansReported = "kitshop_tracing_spans_reported_total"
	MetricSpansDropped  = "kitshop_tracing_spans_dropped_total"
)

// ReporterOptions tunes NewHTTPReporter; zero fields take the defaults
// above.
type ReporterOptions struct {
	// Service labels the counters and the log lines.
	Service string
	// QueueSize bounds the spans waiting to be batched: beyond it Send
	// drops. BatchSize is the most spans per post; BatchInterval is how
	// long a span waits for its batch to fill.
	QueueSize, BatchSize int
	BatchInterval        time.Duration
	// PostTimeout bounds one post; CloseTimeout the last one, on Close.
	PostTimeout, CloseTimeout time.Duration
	// Metrics, when set, registers the reported and dropped counters.
	Metrics prometheus.Registerer
	// Logger hears when the collector stops and starts answering (one
	// line each way, never one per batch); nil logs JSON to stderr.
	Logger log.Logger
}

// httpReporter posts Zipkin v2 JSON batches; see the comment at the top.
type httpReporter struct {
	url, shownURL string
	client        *http.Client
	opts          ReporterOptions
	logger        log.Logger

	reported, dropped prometheus.Counter

	// mu orders Send against Close: no span enters the queue after Close
	// has drained it.
	mu     sync.RWMutex
	closed bool
	queue  chan model.SpanModel
	quit   chan struct{}
	done   chan struct{}

	// Owned by the loop goroutine.
	failing   bool
	lost      int       // spans dropped since the collector stopped answering
	nextTry   time.Time // no post before this while failing
	backoff   time.Duration
	serialize reporter.JSONSerializer
}

// NewHTTPReporter returns a reporter posting to the Zipkin v2 spans
// endpoint rawURL (http://host:9411/api/v2/spans).
func NewHTTPReporter(rawURL string, opts ReporterOptions) (reporter.Reporter, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing: %s %q is not an http(s) URL", EnvZipkinURL, redactURL(rawURL))
	}
	opts = opts.withDefaults()
	r := &httpReporter{
		url: rawURL, shownURL: redactURL(rawURL), opts: opts,
		// The reporter's own posts are never traced: a span per batch
		// would be reported in the next batch, forever.
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		queue:  make(chan model.SpanModel, opts.QueueSize),
		quit:   make(chan struct{}), done: make(chan struct{}),
	}
	r.logger = opts.Logger
	if r.logger == nil {
		r.logger = log.With(log.NewJSONLogger(log.NewSyncWriter(os.Stderr)), "ts", log.DefaultTimestampUTC)
	}
	r.logger = log.With(r.logger, "component", "zipkin-reporter")
	if r.reported, r.dropped, err = reporterCounters(opts.Metrics, opts.Service); err != nil {
		return nil, err
	}
	go r.loop()
	return r, nil
}

func (o ReporterOptions) withDefaults() ReporterOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchInterval <= 0 {
		o.BatchInterval = DefaultBatchInterval
	}
	if o.PostTimeout <= 0 {
		o.PostTimeout = DefaultPostTimeout
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	return o
}

// reporterCounters are the reported and dropped counters of service,
// registered with reg when it is set (shared with any reporter of the
// same service registered there before).
func reporterCounters(reg prometheus.Registerer, service string) (reported, dropped prometheus.Counter, err error) {
	rv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricSpansReported,
		Help: "Spans the Zipkin reporter delivered to the collector.",
	}, []string{"service"})
	dv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricSpansDropped,
		Help: "Spans the Zipkin reporter dropped: its queue was full, or the collector failed or did not answer.",
	}, []string{"service"})
	if reg != nil {
		if rv, err = metrics.Register(reg, rv); err != nil {
			return nil, nil, err
		}
		if dv, err = metrics.Register(reg, dv); err != nil {
			return nil, nil, err
		}
	}
	return rv.WithLabelValues(service), dv.WithLabelValues(service), nil
}

// Send queues s for the next batch, or drops it when the queue is full
// or the reporter closed. It never blocks.
func (r *httpReporter) Send(s model.SpanModel) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.dropped.Inc()
		return
	}
	select {
	case r.queue <- s:
	default:
		r.dropped.Inc()
	}
}

// Close stops accepting spans, posts what is queued (within
// CloseTimeout) and stops the reporter. It is idempotent.
func (r *httpReporter) Close() error {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if !already {
		close(r.quit)
	}
	<-r.done
	return nil
}

func (r *httpReporter) loop() {
	defer close(r.done)
	batch := make([]*model.SpanModel, 0, r.opts.BatchSize)
	tick := time.NewTicker(r.opts.BatchInterval)
	defer tick.Stop()
	add := func(s model.SpanModel) {
		if len(batch) >= r.opts.BatchSize {
			// Only while the collector is backed off: the batch
			// stays full until the next try.
			r.drop(1)
			return
		}
		batch = append(batch, &s)
		if len(batch) >= r.opts.BatchSize {
			batch = r.flush(batch, r.opts.PostTimeout)
		}
	}
	for {
		select {
		case s := <-r.queue:
			add(s)
		case <-tick.C:
			batch = r.flush(batch, r.opts.PostTimeout)
		case <-r.quit:
			// Send takes no span after quit is closed (Close set closed
			// under mu first), so the queue only holds what it had.
			for drained := false; !drained; {
				select {
				case s := <-r.queue:
					batch = append(batch, &s)
				default:
					drained = true
				}
			}
			r.nextTry = time.Time{} // one last try, however it went before
			r.flushAll(batch, r.opts.CloseTimeout)
			return
		}
	}
}

// flushAll posts batch in BatchSize pieces within one timeout.
func (r *httpReporter) flushAll(batch []*model.SpanModel, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for len(batch) > 0 {
		n := min(len(batch), r.opts.BatchSize)
		left := time.Until(deadline)
		if left <= 0 {
			r.drop(len(batch))
			return
		}
		r.flush(batch[:n], left)
		batch = batch[n:]
	}
}

// flush posts batch unless the collector is backed off, and returns the
// batch emptied for reuse (or, backed off, as it was).
func (r *httpReporter) flush(batch []*model.SpanModel, timeout time.Duration) []*model.SpanModel {
	if len(batch) == 0 {
		return batch
	}
	if r.failing && time.Now().Before(r.nextTry) {
		return batch
	}
	if err := r.post(batch, timeout); err != nil {
		r.drop(len(batch))
		r.failed(err)
	} else {
		r.reported.Add(float64(len(batch)))
		r.recovered()
	}
	clear(batch)
	return batch[:0]
}

func (r *httpReporter) post(batch []*model.SpanModel, timeout time.Duration) error {
	body, err := r.serialize.Serialize(batch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", r.serialize.ContentType())
	// As zipkin-go does: a tracing proxy in between must not trace the
	// report itself.
	req.Header.Set("b3", "0")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	// Read a little so the connection can be reused; never the whole of
	// whatever a misbehaving collector sends.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errors.New("collector answered " + resp.Status)
	}
	return nil
}

func (r *httpReporter) drop(n int) {
	r.dropped.Add(float64(n))
	if r.failing {
		r.lost += n
	}
}

// failed backs the collector off, doubling the wait up to maxBackoff, and
// logs the first failure of a run.
func (r *httpReporter) failed(err error) {
	if !r.failing {
		r.failing, r.backoff = true, r.opts.BatchInterval
		_ = level.Warn(r.logger).Log("msg", "zipkin collector failed; dropping spans until it answers",
			"service", r.opts.Service, "url", r.shownURL, "err", err)
	} else {
		r.backoff = min(2*r.backoff, maxBackoff)
	}
	r.nextTry = time.Now().Add(r.backoff)
}

func (r *httpReporter) recovered() {
	if !r.failing {
		return
	}
	_ = level.Info(r.logger).Log("msg", "zipkin collector answering again", "service", r.opts.Service,
		"url", r.shownURL, "spans_dropped", r.lost)
	r.failing, r.lost, r.backoff, r.nextTry = false, 0, 0, time.Time{}
}

// redactURL hides a password in a collector URL (a collector behind basic
// auth) before it is logged or quoted in an error.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
