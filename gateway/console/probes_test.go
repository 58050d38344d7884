package console

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

// Probes run concurrently but never more than ProbeConcurrency at once,
// however many instances are registered.
func TestProbesAreBounded(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	var mu sync.Mutex
	inFlight, most := 0, 0
	slowReady := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		// Long enough for unbounded probes to overlap.
		select {
		case <-time.After(20 * time.Millisecond):
		case <-r.Context().Done():
		}
		readyHandler(http.StatusOK, nil).ServeHTTP(w, r)
	})
	const instances, bound = 6, 2
	for range instances {
		p.register("products", "v1", p.serve("products", slowReady).Listener.Addr().String())
	}
	cfg := p.config(nil)
	cfg.ProbeConcurrency = bound
	cfg.ProbeTimeout = 10 * time.Second
	a := get(t, consoleServer(t, cfg), "/console", "admin")
	if n := strings.Count(a.body, `class="health ready"`); n != instances {
		t.Fatalf("%d instances ready, want %d:\n%s", n, instances, a.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if most > bound {
		t.Fatalf("%d probes ran at once, bound %d", most, bound)
	}
}

// HEAD of the page checks access like GET and sends no body.
func TestHeadPage(t *testing.T) {
	kittest.CheckGoroutines(t)
	srv := consoleServer(t, Config{Identify: fakeIdentify})
	for role, want := range map[string]int{"admin": http.StatusOK, "customer": http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodHead, srv.URL+"/console", nil)
		req.Header.Set(headerRole, role)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.ContentLength > 0 {
			t.Fatalf("HEAD as %s: %d, length %d", role, resp.StatusCode, resp.ContentLength)
		}
	}
	srv.Client().CloseIdleConnections()
}
