package httpx_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/tracing"
)

// widgets is a service's routes: its handlers call an endpoint wrapped in
// the standard chain, which logs to the same logger as the transport.
func widgets(logger log.Logger) http.Handler {
	get := mw.Chain{Service: "widgets", Logger: logger}.Wrap("GetWidget", func(_ context.Context, req any) (any, error) {
		switch req.(string) {
		case "404":
			return nil, errs.New(errs.NotFound, "WIDGET_MISSING", "no widget 404")
		case "503":
			return nil, errs.Wrap(errs.Unavailable, "STORE_DOWN", errors.New("dial 10.1.2.3:5432"), "store unavailable")
		case "boom":
			panic("widget store exploded")
		}
		return "widget", nil
	})
	r := httpx.NewRouter()
	r.Methods(http.MethodGet).Path("/widgets/{id}").HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch id := strings.TrimPrefix(r.URL.Path, "/widgets/"); id {
		case "not-ready", "teapot-500":
			// Written without a problem: a readiness probe's 503, a
			// handler's bare 500.
			w.WriteHeader(map[string]int{"not-ready": http.StatusServiceUnavailable, "teapot-500": http.StatusInternalServerError}[id])
			return
		}
		if _, err := get(r.Context(), strings.TrimPrefix(r.URL.Path, "/widgets/")); err != nil {
			httpx.WriteProblem(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"name": "widget"})
	})
	return r
}

// platform wraps routes as kit/boot's Handler does.
func platform(t *testing.T, logger log.Logger) http.Handler {
	tracer, _ := kittest.NewTracer(t, "widgets")
	red, err := metrics.NewRED(metrics.NewRegistry(), "widgets")
	if err != nil {
		t.Fatal(err)
	}
	return httpx.RequestID(tracing.HTTPServer(tracer, httpx.Metrics(red)(httpx.AccessLog(logger)(httpx.Recover(logger)(widgets(logger))))))
}

func leveled(t *testing.T, buf io.Writer, lvl string) log.Logger {
	t.Helper()
	logger, err := logx.NewWithLevel(buf, "widgets", lvl)
	if err != nil {
		t.Fatal(err)
	}
	return logger
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set(httpx.HeaderRequestID, "req-"+strings.Trim(strings.ReplaceAll(r.URL.Path, "/", "-"), "-"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// TestAccessLogLineFields: one line per request, with the fields an
// operator queries by, and no line from the endpoint chain or Recover.
func TestAccessLogLineFields(t *testing.T) {
	var buf kittest.LogBuffer
	h := platform(t, leveled(t, &buf, "debug"))
	targets := []string{"/widgets/42?token=s3cr3t-query", "/widgets/404", "/widgets/503", "/widgets/boom", "/nowhere", "/widgets/not-ready", "/widgets/teapot-500"}
	for _, target := range targets {
		get(t, h, target)
	}
	lines := buf.Lines(t)
	if len(lines) != len(targets) {
		t.Fatalf("got %d lines for %d requests:\n%s", len(lines), len(targets), buf.String())
	}
	want := []struct {
		level, method, path string
		status              float64
		reason              string
	}{
		{"debug", "GET /widgets/{id}", "/widgets/42", 200, ""},
		{"info", "GET /widgets/{id}", "/widgets/404", 404, "WIDGET_MISSING"},
		{"error", "GET /widgets/{id}", "/widgets/503", 503, "STORE_DOWN"},
		{"error", "GET /widgets/{id}", "/widgets/boom", 500, errs.ReasonInternal},
		{"info", "GET", "/nowhere", 404, httpx.ReasonRouteNotFound},
		{"info", "GET /widgets/{id}", "/widgets/not-ready", 503, ""},
		{"error", "GET /widgets/{id}", "/widgets/teapot-500", 500, ""},
	}
	for i, w := range want {
		l := lines[i]
		if l["msg"] != logx.MsgRequest || l["transport"] != httpx.TransportHTTP || l["level"] != w.level ||
			l["method"] != w.method || l["path"] != w.path || l["status"] != w.status {
			t.Errorf("line %d = %v\nwant %s %q %s %v", i, l, w.level, w.method, w.path, w.status)
		}
		if got, _ := l["err_reason"].(string); got != w.reason {
			t.Errorf("line %d err_reason = %q, want %q", i, got, w.reason)
		}
		if l["request_id"] != "req"+strings.ReplaceAll(w.path, "/", "-") {
			t.Errorf("line %d request_id = %v", i, l["request_id"])
		}
		if id, _ := l["trace_id"].(string); len(id) != 32 {
			t.Errorf("line %d trace_id = %v, want 32 hex digits", i, l["trace_id"])
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("line %d duration_ms = %v", i, l["duration_ms"])
		}
	}
	if !strings.Contains(lines[2]["err"].(string), "10.1.2.3:5432") {
		t.Errorf("the cause of a 503 is not logged: %v", lines[2]["err"])
	}
	if stack, _ := lines[3]["stack"].(string); !strings.Contains(stack, "accesslog_test.go") || !strings.Contains(lines[3]["err"].(string), "widget store exploded") {
		t.Errorf("panic line = %v, want the panic and its stack", lines[3])
	}
	if strings.Contains(buf.String(), "s3cr3t-query") {
		t.Errorf("the query string was logged:\n%s", buf.String())
	}
}

// TestAccessLogAtInfo: successes write nothing at the default level,
// failures one line each.
func TestAccessLogAtInfo(t *testing.T) {
	var buf kittest.LogBuffer
	h := platform(t, leveled(t, &buf, "info"))
	for range 3 {
		if rec := get(t, h, "/widgets/1"); rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if out := buf.String(); out != "" {
		t.Fatalf("successes logged at info:\n%s", out)
	}
	get(t, h, "/widgets/404")
	if lines := buf.Lines(t); len(lines) != 1 || lines[0]["level"] != "info" || lines[0]["status"] != 404.0 {
		t.Fatalf("lines = %v, want one info line for the 404", lines)
	}
}

// TestNestedAccessLogsWriteOneLine: an access log inside another (a
// service wrapping its own router) stays quiet.
func TestNestedAccessLogsWriteOneLine(t *testing.T) {
	var buf kittest.LogBuffer
	logger := logx.New(&buf, "widgets")
	h := httpx.RequestID(httpx.AccessLog(logger)(httpx.AccessLog(logger)(widgets(logger))))
	get(t, h, "/widgets/404")
	if lines := buf.Lines(t); len(lines) != 1 {
		t.Fatalf("got %d lines, want 1:\n%s", len(lines), buf.String())
	}
}

// okWriter is a ResponseWriter that costs nothing per request.
type okWriter struct{ h http.Header }

func (w okWriter) Header() http.Header       { return w.h }
func (okWriter) Write(b []byte) (int, error) { return len(b), nil }
func (okWriter) WriteHeader(int)             {}

// TestAccessLogAllocatesNothingForSuccessesAtInfo: a successful request
// costs no allocation for its (unwritten) line, route noting included,
// when the logger drops debug entries. At debug it does, which shows
// the measure can fail.
func TestAccessLogAllocatesNothingForSuccessesAtInfo(t *testing.T) {
	red, err := metrics.NewRED(metrics.NewRegistry(), "widgets")
	if err != nil {
		t.Fatal(err)
	}
	router := httpx.NewRouter()
	router.Methods(http.MethodGet).Path("/widgets/{id}").HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	r := httptest.NewRequest(http.MethodGet, "/widgets/7", nil)
	r.Header.Set(httpx.HeaderRequestID, "req-1")
	w := okWriter{h: http.Header{}}
	allocs := func(h http.Handler) float64 { return fewestAllocs(func() { h.ServeHTTP(w, r) }) }
	without := allocs(httpx.RequestID(httpx.Metrics(red)(httpx.Recover(nil)(router))))
	atInfo := allocs(httpx.RequestID(httpx.Metrics(red)(httpx.AccessLog(leveled(t, io.Discard, "info"))(httpx.Recover(nil)(router)))))
	if atInfo != without {
		t.Errorf("a success costs %v allocations with AccessLog at info, %v without", atInfo, without)
	}
	atDebug := allocs(httpx.RequestID(httpx.Metrics(red)(httpx.AccessLog(leveled(t, io.Discard, "debug"))(httpx.Recover(nil)(router)))))
	if atDebug <= without {
		t.Errorf("a success at debug costs %v allocations, no more than without AccessLog (%v): the test measures nothing", atDebug, without)
	}

	// The router notes the route on the request's record for free.
	plain := fewestAllocs(func() { router.ServeHTTP(w, r) })
	recorded := r.WithContext(logx.WithRecord(r.Context(), &logx.Record{ID: "req-2"}))
	if noted := fewestAllocs(func() { router.ServeHTTP(w, recorded) }); noted != plain {
		t.Errorf("routing costs %v allocations noting the route, %v without", noted, plain)
	}
	t.Logf("allocations per request: %v without AccessLog, %v at info, %v at debug; router %v", without, atInfo, atDebug, plain)
}

// fewestAllocs is f's allocations per run, the fewest of a few
// measures: under -race, sync.Pool drops items at random, which adds an
// allocation now and then to one measure or another.
func fewestAllocs(f func()) float64 {
	fewest := testing.AllocsPerRun(100, f)
	for range 4 {
		fewest = min(fewest, testing.AllocsPerRun(100, f))
	}
	return fewest
}

// BenchmarkAccessLogSuccessAtInfo is the hot path: a success at the
// default level.
func BenchmarkAccessLogSuccessAtInfo(b *testing.B) {
	logger, _ := logx.NewWithLevel(io.Discard, "widgets", "info")
	h := httpx.RequestID(httpx.AccessLog(logger)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
	r := httptest.NewRequest(http.MethodGet, "/widgets/7", nil)
	r.Header.Set(httpx.HeaderRequestID, "req-1")
	w := okWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
