package tracing_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tracing"
)

func TestNewWithoutURLNeverTouchesNetwork(t *testing.T) {
	kittest.CheckGoroutines(t)
	// A host name that cannot resolve: New must neither look it up nor fail.
	tracer, closer, err := tracing.New(tracing.Config{Service: "users", HostPort: "no-such-host.invalid:9081"})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if ep := tracer.LocalEndpoint(); ep.ServiceName != "users" || ep.Port != 9081 {
		t.Errorf("local endpoint = %+v", ep)
	}
	sp, ctx := tracer.StartSpanFromContext(context.Background(), "op")
	sp.Finish()
	if id := tracing.TraceID(ctx); len(id) != 32 || id[:16] == "0000000000000000" {
		t.Errorf("TraceID = %q, want a 128-bit id", id)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]tracing.Config{
		"no service": {},
		"bad url":    {Service: "s", ZipkinURL: "ftp://x/api/v2/spans"},
		"rate > 1":   {Service: "s", SampleRate: 1.5},
		"bad port":   {Service: "s", HostPort: "127.0.0.1:http"},
	} {
		if _, _, err := tracing.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestSampleRate(t *testing.T) {
	tracer, closer, err := tracing.New(tracing.Config{Service: "s", SampleRate: tracing.NeverSample})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	sp := tracer.StartSpan("op")
	if s := sp.Context().Sampled; s == nil || *s {
		t.Errorf("NeverSample: sampled = %v", s)
	}
	if tracing.FormatTraceparent(sp.Context())[53:] != "00" {
		t.Errorf("unsampled traceparent should end in 00: %s", tracing.FormatTraceparent(sp.Context()))
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(tracing.EnvZipkinURL, "http://127.0.0.1:9411/api/v2/spans")
	t.Setenv(tracing.EnvSampleRate, "0")
	c, err := tracing.ConfigFromEnv("gateway", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.ZipkinURL != "http://127.0.0.1:9411/api/v2/spans" || c.SampleRate != tracing.NeverSample {
		t.Errorf("config = %+v", c)
	}
	t.Setenv(tracing.EnvSampleRate, "0.25")
	if c, _ := tracing.ConfigFromEnv("gateway", ""); c.SampleRate != 0.25 {
		t.Errorf("rate = %v", c.SampleRate)
	}
	t.Setenv(tracing.EnvSampleRate, "2")
	if _, err := tracing.ConfigFromEnv("gateway", ""); err == nil {
		t.Error("rate 2 accepted")
	}
}

// TestReporterSendsToZipkinURL checks the whole path to a (fake) collector:
// spans are POSTed as Zipkin v2 JSON, and Close flushes them.
func TestReporterSendsToZipkinURL(t *testing.T) {
	kittest.CheckGoroutines(t)
	var (
		mu    sync.Mutex
		names []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var spans []struct {
			Name          string `json:"name"`
			LocalEndpoint struct {
				ServiceName string `json:"serviceName"`
			} `json:"localEndpoint"`
		}
		if err := json.Unmarshal(body, &spans); err != nil {
			t.Errorf("collector got non-JSON body: %v", err)
		}
		mu.Lock()
		for _, s := range spans {
			names = append(names, s.LocalEndpoint.ServiceName+"/"+s.Name)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer collector.Close()

	tracer, closer, err := tracing.New(tracing.Config{Service: "orders", ZipkinURL: collector.URL + "/api/v2/spans"})
	if err != nil {
		t.Fatal(err)
	}
	tracer.StartSpan("checkout", zipkin.StartTime(time.Now())).Finish()
	if err := closer.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) != 1 || names[0] != "orders/checkout" {
		t.Errorf("collector received %v, want [orders/checkout]", names)
	}
}

func TestTraceIDWithoutSpan(t *testing.T) {
	if id := tracing.TraceID(context.Background()); id != "" {
		t.Errorf("TraceID = %q, want empty", id)
	}
	if tp := tracing.Traceparent(context.Background()); tp != "" {
		t.Errorf("Traceparent = %q, want empty", tp)
	}
}
