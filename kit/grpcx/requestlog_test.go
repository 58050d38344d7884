package grpcx_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/tracing"
)

// atLevel starts the fixture with the server logging to its own buffer
// at lvl, as a process does (logx.NewWithLevel); the endpoint chain keeps
// logging to f.logs, which must stay empty: a call served by the server
// gets the server's line only.
func atLevel(t *testing.T, lvl string) (*fixture, *kittest.LogBuffer) {
	t.Helper()
	buf := &kittest.LogBuffer{}
	logger, err := logx.NewWithLevel(buf, "widgets", lvl)
	if err != nil {
		t.Fatal(err)
	}
	f := startWith(t, func(c *grpcx.ServerConfig) { c.Logger = logger })
	return f, buf
}

// TestCallLineFields: one line per call with the fields an operator
// queries by, and none from the endpoint chain.
func TestCallLineFields(t *testing.T) {
	f, logs := atLevel(t, "debug")
	client := testpb.NewTestServiceClient(f.conn)
	sp, ctx := f.clientTr.StartSpanFromContext(context.Background(), "caller-op")
	defer sp.Finish()
	ctx = metadata.AppendToOutgoingContext(ctx, grpcx.RequestIDMetadata, "req-line-1")

	if _, err := client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 3}); err != nil {
		t.Fatal(err)
	}
	_, _ = client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: sizeNotFound})
	_, _ = client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: sizeDown})

	lines := logs.Lines(t)
	if len(lines) != 3 {
		t.Fatalf("got %d lines for 3 calls:\n%s", len(lines), logs)
	}
	if chain := f.logs.String(); chain != "" {
		t.Errorf("the endpoint chain logged too:\n%s", chain)
	}
	want := []struct{ level, status, reason string }{
		{"debug", "OK", ""},
		{"info", "NotFound", "WIDGET_MISSING"},
		{"error", "Unavailable", "STORE_DOWN"},
	}
	for i, w := range want {
		l := lines[i]
		if l["msg"] != logx.MsgRequest || l["transport"] != grpcx.TransportGRPC || l["method"] != unaryCall ||
			l["level"] != w.level || l["status"] != w.status {
			t.Errorf("line %d = %v, want %s %s %s", i, l, w.level, unaryCall, w.status)
		}
		if l["trace_id"] != tracing.TraceID(ctx) || l["request_id"] != "req-line-1" {
			t.Errorf("line %d trace_id/request_id = %v/%v, want %s/req-line-1", i, l["trace_id"], l["request_id"], tracing.TraceID(ctx))
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("line %d duration_ms = %v", i, l["duration_ms"])
		}
		if l["err_reason"] != nil != (w.reason != "") || (w.reason != "" && l["err_reason"] != w.reason) {
			t.Errorf("line %d err_reason = %v, want %q", i, l["err_reason"], w.reason)
		}
		if _, ok := l["path"]; ok {
			t.Errorf("line %d has an HTTP path: %v", i, l)
		}
	}
	// The cause is logged (never sent to the caller).
	if !strings.Contains(asString(lines[2]["err"]), "10.1.2.3:5432") {
		t.Errorf("infrastructure failure logged without its cause: %v", lines[2]["err"])
	}
}

// TestSuccessesAreNotLoggedAtInfo: at the default level a success
// writes nothing; failures are still logged, once each.
func TestSuccessesAreNotLoggedAtInfo(t *testing.T) {
	f, logs := atLevel(t, "info")
	client := testpb.NewTestServiceClient(f.conn)
	for range 3 {
		if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 3}); err != nil {
			t.Fatal(err)
		}
	}
	if out := logs.String(); out != "" {
		t.Fatalf("successes logged at info:\n%s", out)
	}
	_, _ = client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizeInvalid})
	lines := logs.Lines(t)
	if len(lines) != 1 || lines[0]["level"] != "info" || lines[0]["status"] != "InvalidArgument" {
		t.Fatalf("failure lines = %v, want one at info", lines)
	}
	if chain := f.logs.String(); chain != "" {
		t.Errorf("the endpoint chain logged too:\n%s", chain)
	}
}

// TestCallWithoutRequestIDGetsOne: a caller without x-request-id (grpcurl,
// a background job) still gets an id on the line.
func TestCallWithoutRequestIDGetsOne(t *testing.T) {
	f, logs := atLevel(t, "debug")
	if _, err := testpb.NewTestServiceClient(f.conn).UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 3}); err != nil {
		t.Fatal(err)
	}
	l := logs.Find(t, "msg", logx.MsgRequest)
	if _, err := uuid.Parse(asString(l["request_id"])); err != nil {
		t.Errorf("request_id = %v, want a generated UUID", l["request_id"])
	}
}
