package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/health"
)

func TestPlatform(t *testing.T) {
	// What -ldflags "-X .../kit/config.Version=..." sets in an image build.
	defer func(v string) { config.Version = v }(config.Version)
	config.Version = "v9.8.7-test"
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kitshop_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	ready := health.New()
	router := NewRouter()
	Platform(router, ready, reg)

	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/health/live"); code != 200 || !strings.Contains(body, `"version":"v9.8.7-test"`) {
		t.Fatalf("live = %d %s, want 200 naming the build version", code, body)
	}
	if code, _ := get("/health/ready"); code != 503 {
		t.Fatalf("ready before SetReady = %d", code)
	}
	ready.SetReady(true)
	if code, _ := get("/health/ready"); code != 200 {
		t.Fatalf("ready after SetReady = %d", code)
	}
	ready.AddCheck("db", func(context.Context) error { return errors.New("db down") })
	// The failing check is named, but its error text (which may name
	// hosts) stays in the logs.
	if code, body := get("/health/ready"); code != 503 || !strings.Contains(body, `"db":`) || strings.Contains(body, "db down") {
		t.Fatalf("ready with failing check = %d %s", code, body)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, "kitshop_test_total 3") {
		t.Fatalf("metrics %d:\n%s", code, body)
	}
	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /metrics = %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestNewServerTimeouts(t *testing.T) {
	s := NewServer(":0", http.NotFoundHandler())
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout == 0 || s.MaxHeaderBytes == 0 {
		t.Fatalf("unset limits: %+v", s)
	}
	// The header limit is enforced for real.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.Config = NewServer("", srv.Config.Handler)
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("X-Big", strings.Repeat("a", MaxHeaderBytes+4096))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d", resp.StatusCode)
	}
}
