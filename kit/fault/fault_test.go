package fault

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvOffByDefault(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil || c.Enabled() || New(c) != nil {
		t.Fatalf("FromEnv(empty) = %+v, %v; want nothing injected", c, err)
	}
	// Production with nothing asked for is fine: the refusal is of faults.
	if _, err := FromEnv(env(map[string]string{EnvMode: "production"})); err != nil {
		t.Fatalf("production without faults: %v", err)
	}
}

func TestFromEnvParses(t *testing.T) {
	c, err := FromEnv(env(map[string]string{EnvErrorRate: "0.2", EnvLatency: "2s", EnvMode: "dev"}))
	if err != nil || c.ErrorRate != 0.2 || c.Latency != 2*time.Second {
		t.Fatalf("FromEnv = %+v, %v", c, err)
	}
}

func TestFromEnvRefusesProduction(t *testing.T) {
	for _, vars := range []map[string]string{
		{EnvErrorRate: "0.2", EnvMode: "production"},
		{EnvLatency: "2s", EnvMode: " Production "},
	} {
		if _, err := FromEnv(env(vars)); !errors.Is(err, ErrProduction) {
			t.Errorf("FromEnv(%v) = %v, want ErrProduction", vars, err)
		}
	}
}

func TestFromEnvRejectsMalformed(t *testing.T) {
	for _, vars := range []map[string]string{
		{EnvErrorRate: "20%"}, {EnvErrorRate: "1.5"}, {EnvErrorRate: "-0.1"}, {EnvErrorRate: "NaN"},
		{EnvLatency: "2"}, {EnvLatency: "-1s"}, {EnvLatency: "2h"},
	} {
		_, err := FromEnv(env(vars))
		if err == nil {
			t.Errorf("FromEnv(%v) accepted", vars)
			continue
		}
		for k := range vars {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("FromEnv(%v) = %q, does not name %s", vars, err, k)
			}
		}
	}
}

// The share of failed calls follows ErrorRate (10,000 draws: the bounds
// are more than seven standard deviations wide).
func TestErrorRateShare(t *testing.T) {
	i := New(Config{ErrorRate: 0.2})
	failed := 0
	for range 10000 {
		if err := i.Before(context.Background()); err != nil {
			kittest.WantErr(t, err, errs.Unavailable, ReasonInjected)
			failed++
		}
	}
	if failed < 1700 || failed > 2300 {
		t.Fatalf("%d of 10000 calls failed, want about 2000", failed)
	}
	if all := New(Config{ErrorRate: 1}); all.Before(context.Background()) == nil {
		t.Fatal("rate 1 let a call through")
	}
}

func TestLatencyBoundedByContext(t *testing.T) {
	i := New(Config{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- i.Before(ctx) }()
	select {
	case err := <-done:
		if errs.KindOf(err) != errs.DeadlineExceeded {
			t.Fatalf("Before = %v, want the caller's deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("latency outlived the call's deadline")
	}
	short := New(Config{Latency: 30 * time.Millisecond})
	start := time.Now()
	if err := short.Before(context.Background()); err != nil || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("Before = %v after %s, want nil after 30ms", err, time.Since(start))
	}
}

func TestUnaryInterceptor(t *testing.T) {
	i := New(Config{ErrorRate: 1})
	called := false
	handler := func(context.Context, any) (any, error) { called = true; return "ok", nil }
	_, err := i.UnaryServerInterceptor()(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/kitshop.products.v1.ProductsService/GetProduct"}, handler)
	kittest.WantStatus(t, err, codes.Unavailable, ReasonInjected)
	if called {
		t.Fatal("the handler ran despite the injected failure")
	}
	for _, m := range []string{"/grpc.health.v1.Health/Check", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"} {
		if _, err := i.UnaryServerInterceptor()(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: m}, handler); err != nil || !called {
			t.Fatalf("%s: %v; faults must never touch health or reflection", m, err)
		}
	}
	var none *Injector
	if _, err := none.UnaryServerInterceptor()(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, handler); err != nil {
		t.Fatalf("nil injector: %v", err)
	}
}

func TestHTTPProblem(t *testing.T) {
	h := New(Config{ErrorRate: 1}).HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the handler ran despite the injected failure")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/products", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") ||
		!strings.Contains(rec.Body.String(), ReasonInjected) {
		t.Fatalf("got %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}
