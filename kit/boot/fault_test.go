package boot_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/fault"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
)

// A process asked for faults in production mode does not start, and says
// why.
func TestFaultsRefusedInProduction(t *testing.T) {
	t.Setenv(fault.EnvMode, fault.ModeProduction)
	t.Setenv(fault.EnvErrorRate, "0.2")
	cfg, err := config.ParseService("widgets", "127.0.0.1:0", "127.0.0.1:0", []string{"-etcd-endpoints="})
	if err != nil {
		t.Fatal(err)
	}
	p, err := boot.New(cfg, io.Discard)
	if !errors.Is(err, fault.ErrProduction) {
		if p != nil {
			p.Close()
		}
		t.Fatalf("boot.New = %v, want the production refusal", err)
	}
}

// With every call failing, the API answers 503 FAULT_INJECTED while the
// platform endpoints and gRPC health stay untouched (so the instance is
// neither killed nor taken out of rotation by its own fault), and the
// start-up log says faults are on.
func TestFaultsSpareThePlatformEndpoints(t *testing.T) {
	t.Setenv(fault.EnvErrorRate, "1")
	cfg, err := config.ParseService("widgets", "127.0.0.1:0", "127.0.0.1:0", []string{"-etcd-endpoints="})
	if err != nil {
		t.Fatal(err)
	}
	var logs kittest.LogBuffer
	p, err := boot.New(cfg, &logs)
	if err != nil {
		t.Fatal(err)
	}
	routes := httpx.NewRouter()
	routes.Methods(http.MethodGet).Path("/hello").HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the handler ran despite the injected failure")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, routes, p.GRPCServer()) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
	}()
	base := "http://" + p.HTTPAddr()
	kittest.WaitFor(t, 10*time.Second, "ready", func() bool {
		resp, err := http.Get(base + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	for _, path := range []string{"/health/live", "/metrics"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(base + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), fault.ReasonInjected) {
		t.Fatalf("GET /hello = %d %s, want 503 %s", resp.StatusCode, body, fault.ReasonInjected)
	}
	conn, err := grpc.NewClient(p.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if _, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("gRPC health under faults: %v", err)
	}
	if !strings.Contains(logs.String(), "FAULT INJECTION IS ON") {
		t.Fatalf("start-up log does not say faults are on:\n%s", logs.String())
	}
}
