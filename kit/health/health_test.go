package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
)

// waitTimeout bounds every wait for a condition; the conditions themselves
// turn true within milliseconds.
const waitTimeout = 5 * time.Second

// recorder collects what a listener was told, in order.
type recorder struct {
	mu   sync.Mutex
	seen []bool
	// ch feeds next. A listener must never block (it runs inside
	// Readiness's notification), so past its buffer, calls are only in
	// seen: tests that cause many changes read seen instead.
	ch chan bool
}

func newRecorder() *recorder { return &recorder{ch: make(chan bool, 64)} }

func (r *recorder) listen(v bool) {
	r.mu.Lock()
	r.seen = append(r.seen, v)
	r.mu.Unlock()
	select {
	case r.ch <- v:
	default:
	}
}

func (r *recorder) values() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.seen...)
}

func (r *recorder) last() bool {
	v := r.values()
	return len(v) > 0 && v[len(v)-1]
}

// next waits for the listener's next call and fails unless it said want.
func (r *recorder) next(t *testing.T, want bool, what string) {
	t.Helper()
	select {
	case got := <-r.ch:
		if got != want {
			t.Fatalf("%s: listener told %v, want %v (all: %v)", what, got, want, r.values())
		}
	case <-time.After(waitTimeout):
		t.Fatalf("%s: listener not told %v within %v (all: %v)", what, want, waitTimeout, r.values())
	}
}

// switchCheck is a check whose failure the test turns on and off, and
// which counts its runs so the test can wait for monitor rounds.
type switchCheck struct {
	err  atomic.Pointer[error]
	runs atomic.Int64
}

func (c *switchCheck) fail(err error) { c.err.Store(&err) }
func (c *switchCheck) pass()          { c.err.Store(nil) }

func (c *switchCheck) check(context.Context) error {
	c.runs.Add(1)
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// waitRounds waits until c has run n more times.
func (c *switchCheck) waitRounds(t *testing.T, n int64) {
	t.Helper()
	target := c.runs.Load() + n
	kittest.WaitFor(t, waitTimeout, "monitor rounds", func() bool { return c.runs.Load() >= target })
}

// startMonitor runs r's Monitor until the test ends and checks that it
// then returns nil.
func startMonitor(t *testing.T, r *health.Readiness, interval time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Monitor(ctx, interval) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Monitor returned %v after cancellation, want nil", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Monitor did not return after cancellation")
		}
	})
}

var errDBDown = errs.Wrap(errs.Unavailable, errs.ReasonUnavailable,
	errors.New("dial tcp 127.0.0.1:15432: connect: connection refused"), "database unreachable")

func TestSubscribersFollowSetReady(t *testing.T) {
	r := health.New()
	declared, serving := newRecorder(), newRecorder()
	r.Subscribe(declared.listen)
	r.SubscribeServing(serving.listen)
	declared.next(t, false, "declared at subscription")
	serving.next(t, false, "serving at subscription")

	r.SetReady(true)
	declared.next(t, true, "declared after SetReady(true)")
	serving.next(t, true, "serving after SetReady(true)")
	r.SetReady(true) // no change, no call
	r.SetReady(false)
	declared.next(t, false, "declared after SetReady(false)")
	serving.next(t, false, "serving after SetReady(false)")
	if got := declared.values(); len(got) != 3 {
		t.Fatalf("declared listener told %v, want one call per change", got)
	}
	if r.Declared() || r.Serving() {
		t.Fatal("getters disagree with SetReady(false)")
	}

	// A late subscriber is told the current state at once.
	late := newRecorder()
	r.SetReady(true)
	r.SubscribeServing(late.listen)
	late.next(t, true, "late subscriber")
}

// TestMonitorFlipsServing is the point of Monitor: a failing check takes
// the serving verdict (what gRPC health follows) down and back up, while
// the declared state, which means "shutting down" when false, stays put.
func TestMonitorFlipsServing(t *testing.T) {
	kittest.CheckGoroutines(t)
	r := health.New()
	db := &switchCheck{}
	r.AddCheck("postgres", db.check)
	declared, serving := newRecorder(), newRecorder()
	r.Subscribe(declared.listen)
	r.SubscribeServing(serving.listen)
	serving.next(t, false, "before ready")
	startMonitor(t, r, 5*time.Millisecond)

	r.SetReady(true)
	serving.next(t, true, "ready, check passing")

	db.fail(errDBDown)
	serving.next(t, false, "check failing")
	if !r.Declared() {
		t.Fatal("a failing check changed the declared state")
	}
	db.pass()
	serving.next(t, true, "check recovered")

	if got := declared.values(); len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("declared listener told %v, want [false true]: checks must not look like a shutdown", got)
	}
}

// TestSetReadyFalseWins: shutdown's SetReady(false) reaches listeners
// before it returns, and no monitor round, however timed, can make them
// serve again afterwards.
func TestSetReadyFalseWins(t *testing.T) {
	kittest.CheckGoroutines(t)
	r := health.New()
	db := &switchCheck{}
	r.AddCheck("postgres", db.check)
	serving := newRecorder()
	// A slow listener widens the window in which a monitor round's
	// "serving" could overtake shutdown's "not serving" on its way to the
	// listener, were deliveries not serialised.
	r.SubscribeServing(func(v bool) {
		if v {
			time.Sleep(200 * time.Microsecond)
		}
		serving.listen(v)
	})
	startMonitor(t, r, time.Millisecond)

	// Churn: the check flaps while the lifecycle flips, so monitor
	// deliveries race with SetReady ones.
	stop := make(chan struct{})
	flapped := make(chan struct{})
	stopFlapping := sync.OnceFunc(func() {
		close(stop)
		<-flapped
	})
	t.Cleanup(stopFlapping) // also when the test fails mid-way
	go func() {
		defer close(flapped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				db.fail(errDBDown)
			} else {
				db.pass()
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for range 50 {
		r.SetReady(true)
		db.waitRounds(t, 1)
		r.SetReady(false)
		if serving.last() {
			t.Fatal("listener left serving right after SetReady(false)")
		}
	}
	stopFlapping()
	db.pass()
	db.waitRounds(t, 3)
	if serving.last() || r.Serving() {
		t.Fatalf("serving after SetReady(false) and passing checks: %v", serving.values())
	}
}

// TestMonitorDiscardsInterruptedRound: checks cut short by the monitor's
// own end fail with the context error; that says nothing about the
// dependency and must not be published.
func TestMonitorDiscardsInterruptedRound(t *testing.T) {
	kittest.CheckGoroutines(t)
	r := health.New()
	var blocking atomic.Bool
	started := make(chan struct{}, 1)
	r.AddCheck("slow", func(ctx context.Context) error {
		if !blocking.Load() {
			return nil
		}
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	})
	serving := newRecorder()
	r.SubscribeServing(serving.listen)
	serving.next(t, false, "at subscription")
	r.SetReady(true)
	serving.next(t, true, "ready")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	blocking.Store(true)
	go func() { done <- r.Monitor(ctx, time.Millisecond) }()
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("check never ran")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Monitor = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Monitor ignored cancellation during a round")
	}
	if !r.Serving() || len(serving.values()) != 2 {
		t.Fatalf("an interrupted round was published: %v", serving.values())
	}
}

// TestMonitorLogsTransitions: the cause, which clients never see, is
// logged once when a check starts failing and once when it recovers, not
// on every round.
func TestMonitorLogsTransitions(t *testing.T) {
	kittest.CheckGoroutines(t)
	logs := &kittest.LogBuffer{}
	r := health.New(health.WithLogger(logx.New(logs, "widgets")))
	db := &switchCheck{}
	r.AddCheck("postgres", db.check)
	serving := newRecorder()
	r.SubscribeServing(serving.listen)
	serving.next(t, false, "at subscription")
	r.SetReady(true)
	serving.next(t, true, "ready")
	startMonitor(t, r, time.Millisecond)

	db.fail(errDBDown)
	serving.next(t, false, "check failing")
	db.waitRounds(t, 5)
	db.pass()
	serving.next(t, true, "check recovered")

	var failing, recovered int
	for _, l := range logs.Lines(t) {
		switch l["msg"] {
		case "readiness check failing":
			failing++
			if l["check"] != "postgres" || l["level"] != "warn" || !strings.Contains(fmt.Sprint(l["err"]), "127.0.0.1:15432") {
				t.Errorf("failing line = %v", l)
			}
		case "readiness check recovered":
			recovered++
			if l["check"] != "postgres" {
				t.Errorf("recovered line = %v", l)
			}
		}
	}
	if failing != 1 || recovered != 1 {
		t.Fatalf("logged %d failing and %d recovered lines, want 1 each:\n%s", failing, recovered, logs.String())
	}
}

// TestReadyBodyHidesCauses: a readiness body names each check, but says
// only what a classified error's Message says, and "unavailable" for
// anything else: causes name internal addresses.
func TestReadyBodyHidesCauses(t *testing.T) {
	r := health.New()
	r.AddCheck("postgres", func(context.Context) error { return errDBDown })
	r.AddCheck("cache", func(context.Context) error { return errors.New("dial tcp 10.1.2.3:6379: connection refused") })
	r.AddCheck("etcd", func(context.Context) error { return nil })

	get := func() (int, map[string]any, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		r.ReadyHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health/ready", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		return rec.Code, body, rec.Body.String()
	}
	code, body, raw := get()
	if code != http.StatusServiceUnavailable || body["status"] != "unavailable" {
		t.Fatalf("not ready: %d %s", code, raw)
	}
	want := map[string]any{
		"lifecycle": "not serving", "postgres": "database unreachable", "cache": "unavailable", "etcd": "ok",
	}
	checks, _ := body["checks"].(map[string]any)
	if len(checks) != len(want) {
		t.Fatalf("checks = %v, want %v", checks, want)
	}
	for k, v := range want {
		if checks[k] != v {
			t.Errorf("checks[%q] = %v, want %v", k, checks[k], v)
		}
	}
	for _, leak := range []string{"127.0.0.1", "15432", "10.1.2.3", "dial tcp"} {
		if strings.Contains(raw, leak) {
			t.Errorf("readiness body leaks %q: %s", leak, raw)
		}
	}

	// Healthy: 200 with every check "ok".
	h := health.New()
	h.AddCheck("etcd", func(context.Context) error { return nil })
	h.SetReady(true)
	rec := httptest.NewRecorder()
	h.ReadyHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health/ready", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"etcd":"ok"`) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("ready: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func TestLiveHandler(t *testing.T) {
	for version, want := range map[string]string{
		"v1.4.0": "{\"status\":\"ok\",\"version\":\"v1.4.0\"}\n",
		"":       "{\"status\":\"ok\"}\n",
	} {
		rec := httptest.NewRecorder()
		health.LiveHandler(version).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health/live", nil))
		if rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Errorf("live(%q): %d %s, want 200 %s", version, rec.Code, rec.Body, want)
		}
	}
}

// A check already failing at start-up must keep the process from serving
// from the first moment it is declared ready, not one monitor round later.
func TestCheckOnceBeforeReadyKeepsAFailingProcessOutOfRotation(t *testing.T) {
	r := health.New()
	r.AddCheck("db", func(context.Context) error { return errors.New("down") })
	var got []bool
	r.SubscribeServing(func(serving bool) { got = append(got, serving) })
	r.CheckOnce(context.Background())
	r.SetReady(true)
	if r.Serving() || slices.Contains(got, true) {
		t.Fatalf("serving with a failing check: Serving()=%v, published %v", r.Serving(), got)
	}
}
