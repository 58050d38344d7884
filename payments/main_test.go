package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// TestRunServesAndShutsDown runs the whole process on Postgres, without a
// registry: it becomes ready, serves, and stops cleanly when its context
// ends.
func TestRunServesAndShutsDown(t *testing.T) {
	httpAddr := kittest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-http-addr", httpAddr, "-grpc-addr", "127.0.0.1:0", "-etcd-endpoints", "",
			"-database-url", pgtest.URL(t), "-log-level", "warn"})
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before becoming ready: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready within 20s")
		}
	}
	resp, err := http.Get("http://" + httpAddr + "/api/v1/payments/0b6c2b5e-8b8a-4f7e-9d8f-1a2b3c4d5e6f")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET payment without a token: %d, want 401", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
