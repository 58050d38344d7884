package mw_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/tracing"
)

type signup struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	CardNumber string `json:"card_number"`
}

func TestLoggingNeverPrintsSecrets(t *testing.T) {
	var buf kittest.LogBuffer
	logger := logx.New(&buf, "users")
	req := signup{Email: "a@example.com", Password: "hunter2-secret", CardNumber: "4242424242424242"}

	for _, result := range []error{nil, errs.Invalid(errs.FieldViolation{Field: "password", Message: "too short"}), errors.New("db down")} {
		e := mw.Logging(logger, "CreateUser")(func(context.Context, any) (any, error) { return req, result })
		if _, err := e(context.Background(), req); err != result {
			t.Fatalf("error changed: %v", err)
		}
	}
	out := buf.String()
	for _, bad := range []string{"hunter2-secret", "4242424242424242", `"password"`, `"card_number"`, "a@example.com"} {
		if strings.Contains(out, bad) {
			t.Errorf("log output contains %s:\n%s", bad, out)
		}
	}
	if n := len(buf.Lines(t)); n != 3 {
		t.Errorf("got %d lines, want one per call", n)
	}
}

func TestLoggingLevelsAndFields(t *testing.T) {
	var buf kittest.LogBuffer
	logger := logx.New(&buf, "orders")
	tracer, _ := kittest.NewTracer(t, "")
	sp, ctx := tracer.StartSpanFromContext(context.Background(), "server")
	defer sp.Finish()
	ctx = logx.WithRequestID(ctx, "req-7")

	outcomes := []error{
		nil,
		errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "not enough"),
		errs.Wrap(errs.Unavailable, "DB_DOWN", errors.New("dial tcp 10.0.0.1:5432"), "store unavailable"),
	}
	for _, o := range outcomes {
		e := mw.Logging(logger, "CreateOrder")(func(context.Context, any) (any, error) { return nil, o })
		_, _ = e(ctx, nil)
	}
	lines := buf.Lines(t)
	if len(lines) != 3 {
		t.Fatalf("got %d lines", len(lines))
	}
	want := []struct{ level, kind, reason string }{
		{"debug", "", ""}, // success: debug
		{"info", "FailedPrecondition", "INSUFFICIENT_STOCK"}, // business: info
		{"error", "Unavailable", "DB_DOWN"},                  // infrastructure: error
	}
	for i, w := range want {
		m := lines[i]
		if m["level"] != w.level || m["method"] != "CreateOrder" || m["took"] == nil {
			t.Errorf("line %d = %v, want level %s", i, m, w.level)
		}
		if w.kind != "" && (m["err_kind"] != w.kind || m["err_reason"] != w.reason) {
			t.Errorf("line %d kind/reason = %v/%v, want %s/%s", i, m["err_kind"], m["err_reason"], w.kind, w.reason)
		}
		if m["trace_id"] != tracing.TraceID(ctx) || m["request_id"] != "req-7" {
			t.Errorf("line %d trace_id/request_id = %v/%v, want %s/req-7", i, m["trace_id"], m["request_id"], tracing.TraceID(ctx))
		}
	}
}
