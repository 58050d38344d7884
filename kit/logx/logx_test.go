package logx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/reporter"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/tracing"
)

func TestNewWritesStandardKeys(t *testing.T) {
	var buf kittest.LogBuffer
	logger := logx.New(&buf, "users")
	_ = logger.Log("msg", "hello") // the caller key must name this line

	lines := buf.Lines(t)
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1", len(lines))
	}
	m := lines[0]
	if m["service"] != "users" || m["msg"] != "hello" {
		t.Errorf("service/msg = %v/%v", m["service"], m["msg"])
	}
	ts, _ := m["ts"].(string)
	parsed, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !strings.HasSuffix(ts, "Z") {
		t.Errorf("ts %q is not RFC3339Nano UTC: %v", ts, err)
	}
	if time.Since(parsed) > time.Minute || time.Since(parsed) < 0 {
		t.Errorf("ts %v is not now", parsed)
	}
	if c, _ := m["caller"].(string); !regexp.MustCompile(`^logx_test\.go:\d+$`).MatchString(c) {
		t.Errorf("caller = %q, want logx_test.go:<line>", c)
	}
}

func TestCallerSurvivesLevelAndContext(t *testing.T) {
	var buf kittest.LogBuffer
	logger := logx.FromContext(logx.WithRequestID(context.Background(), "r1"), logx.New(&buf, "users"))
	_ = level.Info(logger).Log("msg", "x")
	m := buf.Lines(t)[0]
	if c, _ := m["caller"].(string); !strings.HasPrefix(c, "logx_test.go:") {
		t.Errorf("caller = %q, want this file", c)
	}
	if m["level"] != "info" || m["request_id"] != "r1" {
		t.Errorf("level/request_id = %v/%v", m["level"], m["request_id"])
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	var buf kittest.LogBuffer
	logger := log.With(logx.New(&buf, "users"), "api_key", "k-secret-1")
	_ = logger.Log(
		"password", "hunter2",
		"Current-Password", "hunter3",
		"card_number", "4242424242424242",
		"cvc", "123",
		"Authorization", "Bearer eyJhbGciOi",
		"client_secret", "s3cr3t",
		"email", "a@example.com",
	)
	out := buf.String()
	for _, secret := range []string{"hunter2", "hunter3", "4242424242424242", "\"123\"", "eyJhbGciOi", "s3cr3t", "k-secret-1"} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q leaked: %s", secret, out)
		}
	}
	m := buf.Lines(t)[0]
	if m["password"] != logx.Redacted || m["card_number"] != logx.Redacted {
		t.Errorf("password/card_number = %v/%v, want %q", m["password"], m["card_number"], logx.Redacted)
	}
	if m["email"] != "a@example.com" {
		t.Errorf("non-secret key was touched: email = %v", m["email"])
	}
}

func TestIsSecretKey(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "new_password": true, "PASSWORD_HASH": true, "card_number": true,
		"X-API-Key": true, "token": true, "access_token": true, "cvv": true,
		"email": false, "card_last4": false, "method": false, "trace_id": false, "next_page_token": false,
	} {
		if got := logx.IsSecretKey(key); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestFromContextAddsTraceAndRequestID(t *testing.T) {
	tracer, err := zipkin.NewTracer(reporter.NewNoopReporter(), zipkin.WithTraceID128Bit(true))
	if err != nil {
		t.Fatal(err)
	}
	sp, ctx := tracer.StartSpanFromContext(context.Background(), "op")
	defer sp.Finish()
	ctx = logx.WithRequestID(ctx, "req-42")

	var buf kittest.LogBuffer
	_ = logx.FromContext(ctx, logx.New(&buf, "orders")).Log("msg", "x")
	m := buf.Lines(t)[0]
	want := tracing.TraceID(ctx)
	if len(want) != 32 {
		t.Fatalf("TraceID = %q, want 32 hex digits", want)
	}
	if m["trace_id"] != want || m["request_id"] != "req-42" {
		t.Errorf("trace_id/request_id = %v/%v, want %v/req-42", m["trace_id"], m["request_id"], want)
	}

	buf.Reset()
	_ = logx.FromContext(context.Background(), logx.New(&buf, "orders")).Log("msg", "y")
	m = buf.Lines(t)[0]
	if _, ok := m["trace_id"]; ok {
		t.Errorf("trace_id present without a span: %v", m)
	}
	if _, ok := m["request_id"]; ok {
		t.Errorf("request_id present without one in ctx: %v", m)
	}
}

func TestRequestIDRoundTrip(t *testing.T) {
	ctx := context.Background()
	if logx.RequestID(ctx) != "" {
		t.Fatal("empty ctx has a request id")
	}
	if logx.WithRequestID(ctx, "") != ctx {
		t.Error("empty id should leave ctx unchanged")
	}
	if got := logx.RequestID(logx.WithRequestID(ctx, "abc")); got != "abc" {
		t.Errorf("RequestID = %q", got)
	}
}

func TestWithLevel(t *testing.T) {
	var buf kittest.LogBuffer
	logger, err := logx.WithLevel(logx.New(&buf, "s"), "warn")
	if err != nil {
		t.Fatal(err)
	}
	_ = level.Info(logger).Log("msg", "dropped")
	_ = level.Warn(logger).Log("msg", "kept")
	_ = level.Error(logger).Log("msg", "kept too")
	if lines := buf.Lines(t); len(lines) != 2 || lines[0]["msg"] != "kept" {
		t.Errorf("got %v, want only warn and error", lines)
	}
	if _, err := logx.WithLevel(logx.New(&buf, "s"), "loud"); err == nil {
		t.Error("unknown level accepted")
	}
}

func TestNewWithLevelReportsTheRealCaller(t *testing.T) {
	var buf bytes.Buffer
	logger, err := logx.NewWithLevel(&buf, "svc", "info")
	if err != nil {
		t.Fatal(err)
	}
	_ = level.Debug(logger).Log("msg", "dropped")
	_ = level.Info(logger).Log("msg", "kept")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want exactly one JSON line, got %q: %v", buf.String(), err)
	}
	if c, _ := line["caller"].(string); !strings.HasPrefix(c, "logx_test.go:") {
		t.Fatalf("caller %q, want this test file", c)
	}
}
