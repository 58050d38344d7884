package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
)

func TestRequestID(t *testing.T) {
	var seen string
	h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = logx.RequestID(r.Context())
	}))
	tests := []struct {
		name, in string
		echoed   bool
	}{
		{"echoed", "req-123_abc", true},
		{"max length echoed", strings.Repeat("a", 128), true},
		{"absent", "", false},
		{"too long", strings.Repeat("a", 129), false},
		{"space", "a b", false},
		{"control", "a\x01b", false},
		{"non-ascii", "réq", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.in != "" {
				r.Header.Set(HeaderRequestID, tt.in)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			got := rec.Header().Get(HeaderRequestID)
			if got != seen {
				t.Fatalf("header %q != context %q", got, seen)
			}
			if tt.echoed && got != tt.in {
				t.Fatalf("got %q, want echo of %q", got, tt.in)
			}
			if !tt.echoed {
				if _, err := uuid.Parse(got); err != nil {
					t.Fatalf("generated id %q is not a UUID", got)
				}
			}
		})
	}
}

func TestRecoverAnswersProblemWithoutLeaking(t *testing.T) {
	var logs kittest.LogBuffer
	h := RequestID(Recover(log.NewLogfmtLogger(&logs))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("db password is hunter2")
	})))
	r := httptest.NewRequest(http.MethodGet, "/boom", nil)
	r.Header.Set(HeaderRequestID, "rid-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)

	p := problemBody(t, rec)
	if rec.Code != 500 || p["code"] != "INTERNAL" || p["instance"] != "/boom" {
		t.Fatalf("%d %v", rec.Code, p)
	}
	if strings.Contains(rec.Body.String(), "hunter2") {
		t.Fatalf("panic value leaked: %s", rec.Body)
	}
	if rec.Header().Get(HeaderRequestID) != "rid-1" {
		t.Fatalf("request id lost on panic")
	}
	out := logs.String()
	if !strings.Contains(out, "hunter2") || !strings.Contains(out, "request_id=rid-1") || !strings.Contains(out, "stack=") {
		t.Fatalf("panic not logged with context: %s", out)
	}
}

func TestRecoverAfterWriteAborts(t *testing.T) {
	h := Recover(log.NewNopLogger())(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		panic("half way")
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	t.Fatal("no panic")
}

func TestAccessLog(t *testing.T) {
	var logs kittest.LogBuffer
	logger := log.NewLogfmtLogger(&logs)
	h := RequestID(AccessLog(logger)(Recover(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("x")
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("hello"))
	}))))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/ok?token=secret", "/panic"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	out := logs.String()
	for _, want := range []string{"path=/ok status=201 bytes=5", "path=/panic status=500", "request_id="} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("query logged: %s", out)
	}
}

func TestStatusWriterFlushes(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec}
	http.NewResponseController(sw).Flush() //nolint:errcheck // recorder supports it
	if !rec.Flushed || sw.Status() != 200 {
		t.Fatalf("flushed=%v status=%d", rec.Flushed, sw.Status())
	}
}
