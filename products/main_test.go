package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	"github.com/kitshop/kitshop/products/client"
)

// TestRunWithPostgres starts the real process wiring (flags, Postgres,
// a public key file, jobs) and uses it over both transports, then stops it.
func TestRunWithPostgres(t *testing.T) {
	iss := authtest.NewIssuer(t)
	der, err := x509.MarshalPKIXPublicKey(iss.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "jwt.pub.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, grpcAddr := kittest.FreeAddr(t), kittest.FreeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-http-addr", httpAddr, "-grpc-addr", grpcAddr, "-etcd-endpoints", "",
			"-database-url", pgtest.URL(t), "-jwt-public-key-file", keyFile, "-log-level", "warn"})
	}()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			<-done
		}
	}()

	base := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s (last error %v)", err)
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}

	req, _ := http.NewRequest("POST", base+"/api/v1/products", strings.NewReader(lampJSON))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+iss.Token(t, uuid.NewString(), auth.RoleAdmin))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Request-ID") == "" {
		t.Fatalf("create: %d, headers %v", resp.StatusCode, resp.Header)
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	page, err := productsv1.NewProductsServiceClient(conn).SearchProducts(ctx, &productsv1.SearchProductsRequest{Q: "lamp"})
	if err != nil || len(page.GetProducts()) != 1 || page.GetProducts()[0].GetSku() != "LAMP-1" {
		t.Fatalf("search over gRPC: %v, %v", page, err)
	}
	// The contract table against Postgres' full-text search and keyset
	// pages, through the real process wiring.
	client.RunContract(t, base, iss.Token(t, uuid.NewString(), auth.RoleAdmin), iss.Token(t, uuid.NewString(), auth.RoleCustomer))

	stop()
	stopped = true
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestRunRefusesNonPositiveWatchLimits: a zero cap would refuse every
// watch, so it is a configuration mistake, reported before anything starts.
func TestRunRefusesNonPositiveWatchLimits(t *testing.T) {
	for _, args := range [][]string{{"-max-watchers", "0"}, {"-max-watched-products", "-1"}} {
		err := run(context.Background(), append(args, "-etcd-endpoints", ""))
		if err == nil || !strings.Contains(err.Error(), "must be positive") {
			t.Fatalf("%v: %v", args, err)
		}
	}
}
