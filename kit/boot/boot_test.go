package boot_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
)

func newProcess(t *testing.T) *boot.Process {
	t.Helper()
	cfg, err := config.ParseService("widgets", "127.0.0.1:0", "127.0.0.1:0", []string{"-etcd-endpoints="})
	if err != nil {
		t.Fatal(err)
	}
	p, err := boot.New(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A process serves its routes and the platform endpoints, answers a wrong
// method on a platform path with 405, becomes ready, and stops cleanly
// when its context ends.
func TestRunServesAndStops(t *testing.T) {
	p := newProcess(t)
	routes := httpx.NewRouter()
	routes.Methods(http.MethodGet).Path("/hello").HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hi")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, routes, p.GRPCServer()) }()

	base := "http://" + p.HTTPAddr()
	kittest.WaitFor(t, 10*time.Second, "ready", func() bool {
		resp, err := http.Get(base + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !p.Ready.Serving() {
		t.Fatal("readiness monitor not running: Serving() is false while ready")
	}

	resp, err := http.Get(base + "/hello")
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-ID") == "" || resp.Header.Get("Traceparent") == "" {
		t.Fatalf("GET /hello: %v %v", resp, err)
	}
	resp.Body.Close()

	resp, err = http.Post(base+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Fatalf("POST /metrics = %d, Allow %q; want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"))
	}

	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `kitshop_requests_total{code="405",method="POST",service="widgets",transport="http"} 1`) {
		t.Fatalf("the 405 was not counted:\n%s", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
