package logx_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
)

func TestDebugEnabled(t *testing.T) {
	for lvl, want := range map[string]bool{"debug": true, "DEBUG": true, "": false, "info": false, "warn": false, "error": false} {
		logger, err := logx.NewWithLevel(io.Discard, "s", lvl)
		if err != nil {
			t.Fatal(err)
		}
		if got := logx.DebugEnabled(logger); got != want {
			t.Errorf("DebugEnabled(level %q) = %v, want %v", lvl, got, want)
		}
	}
	// Unknown loggers might keep debug entries: true, so that callers
	// skipping work on false stay correct.
	atInfo, _ := logx.NewWithLevel(io.Discard, "s", "info")
	for name, l := range map[string]log.Logger{
		"New":       logx.New(io.Discard, "s"),
		"derived":   log.With(atInfo, "component", "x"),
		"not logx":  log.NewNopLogger(),
		"JSON sink": log.NewJSONLogger(io.Discard),
	} {
		if !logx.DebugEnabled(l) {
			t.Errorf("DebugEnabled(%s) = false", name)
		}
	}
}

// TestCallerThroughWrappers: the caller key names the line that logged,
// however many go-kit wrappers sit between it and the logger.
func TestCallerThroughWrappers(t *testing.T) {
	var buf kittest.LogBuffer
	base, err := logx.NewWithLevel(&buf, "s", "debug")
	if err != nil {
		t.Fatal(err)
	}
	derived := log.With(level.Info(log.With(base, "a", 1)), "b", 2)
	_ = base.Log("msg", "direct")
	_ = level.Debug(base).Log("msg", "leveled")
	_ = derived.Log("msg", "derived")
	_ = logx.FromContext(logx.WithRequestID(context.Background(), "r"), derived).Log("msg", "from context")
	for _, l := range buf.Lines(t) {
		if c, _ := l["caller"].(string); !strings.HasPrefix(c, "record_test.go:") {
			t.Errorf("%v: caller = %q, want this file", l["msg"], c)
		}
	}
}

func TestRecordClaimNoteFinish(t *testing.T) {
	rec := &logx.Record{ID: "r-1"}
	ctx := logx.WithRecord(context.Background(), rec)
	if logx.RecordFrom(ctx) != rec || logx.RequestID(ctx) != "r-1" {
		t.Fatal("record not carried by ctx")
	}
	if logx.TransportLogs(ctx) {
		t.Error("an unclaimed record says the transport logs")
	}
	if !rec.Claim() || rec.Claim() {
		t.Error("Claim must succeed once, then report another claim")
	}
	if !logx.TransportLogs(ctx) {
		t.Error("a claimed record says the transport does not log")
	}
	cause := errors.New("x")
	rec.SetRoute("/outer/{rest}")
	rec.SetRoute("/widgets/{id}")
	logx.NoteError(ctx, cause)
	rec.NotePanic("stack")
	noted := rec.Finish()
	if noted.Route != "/widgets/{id}" || noted.Err != cause || noted.Stack != "stack" {
		t.Errorf("Finish = %+v", noted)
	}
	if logx.TransportLogs(ctx) {
		t.Error("a finished record still says the transport logs: late work would log nothing")
	}
	if logx.TransportLogs(context.Background()) {
		t.Error("no record, yet the transport logs")
	}
	logx.NoteError(context.Background(), cause) // no record: nothing to do, no panic
}

func TestLogRequest(t *testing.T) {
	var buf kittest.LogBuffer
	logger := logx.New(&buf, "orders")
	ctx := logx.WithRequestID(context.Background(), "req-9")
	fail := errs.Wrap(errs.Unavailable, "STORE_DOWN", errors.New("dial 10.0.0.1:5432"), "store unavailable")
	logx.LogRequest(ctx, logger, logx.RequestLevel(false, false), 1500*time.Microsecond, nil, "", logx.KeyMethod, "m")
	logx.LogRequest(ctx, logger, logx.RequestLevel(true, false), time.Millisecond, errs.New(errs.NotFound, "NOPE", "no"), "", logx.KeyMethod, "m")
	logx.LogRequest(ctx, logger, logx.RequestLevel(true, errs.IsInfrastructure(fail)), time.Millisecond, fail, "the stack", logx.KeyMethod, "m")
	lines := buf.Lines(t)
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, want := range []string{"debug", "info", "error"} {
		l := lines[i]
		if l["level"] != want || l["msg"] != logx.MsgRequest || l["request_id"] != "req-9" || l["method"] != "m" {
			t.Errorf("line %d = %v, want level %s", i, l, want)
		}
		if c, _ := l["caller"].(string); !strings.HasPrefix(c, "record_test.go:") {
			t.Errorf("line %d caller = %q, want this file", i, c)
		}
	}
	if lines[0]["duration_ms"] != 1.5 || lines[0]["err"] != nil {
		t.Errorf("success line = %v", lines[0])
	}
	l := lines[2]
	if l["err_kind"] != "Unavailable" || l["err_reason"] != "STORE_DOWN" || !strings.Contains(l["err"].(string), "10.0.0.1:5432") || l["stack"] != "the stack" {
		t.Errorf("failure line = %v", l)
	}
}
