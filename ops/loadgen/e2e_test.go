package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/kittest"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// fakeShop mimics the gateway's routes the journey uses, enough for
// loadgen: a two-product catalog, users, orders. Product "p-limited"
// answers 429 RATE_LIMITED, so the report has errors to tally.
type fakeShop struct {
	mu       sync.Mutex
	users    map[string]string // email -> id
	orders   map[string]string // id -> owner token
	measured atomic.Int64      // requests vegeta sent (they carry X-Vegeta-Seq)
	apiKeys  atomic.Int64      // requests with the expected X-API-Key
}

func (f *fakeShop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vegeta-Seq") != "" {
		f.measured.Add(1)
	}
	if r.Header.Get("X-API-Key") == "test-key" {
		f.apiKeys.Add(1)
	}
	problem := func(status int, code string) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"status":%d,"code":%q}`, status, code)
	}
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == "GET" && p == "/api/v1/products":
		answer(200, map[string]any{"products": []map[string]string{
			{"id": "p-ok", "name": "Pour-over coffee dripper"}, {"id": "p-limited", "name": "Smart scale"}}})
	case r.Method == "GET" && p == "/api/v1/products/p-ok":
		answer(200, map[string]string{"id": "p-ok"})
	case r.Method == "GET" && p == "/api/v1/products/p-limited":
		problem(429, "RATE_LIMITED")
	case r.Method == "POST" && p == "/api/v1/users":
		var in struct{ Email string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		id := fmt.Sprintf("u-%d", len(f.users))
		f.users[in.Email] = id
		answer(201, map[string]string{"id": id})
	case r.Method == "POST" && p == "/api/v1/auth/login":
		var in struct{ Email string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if f.users[in.Email] == "" {
			problem(401, "INVALID_CREDENTIALS")
			return
		}
		answer(200, map[string]string{"access_token": "tok-" + f.users[in.Email]})
	case r.Method == "POST" && p == "/api/v1/orders":
		if r.Header.Get("Idempotency-Key") == "" {
			problem(400, "MISSING_KEY")
			return
		}
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		id := fmt.Sprintf("o-%d", len(f.orders))
		f.orders[id] = tok
		answer(201, map[string]string{"id": id, "user_id": strings.TrimPrefix(tok, "tok-")})
	case r.Method == "GET" && strings.HasPrefix(p, "/api/v1/orders/"):
		if tok, ok := f.orders[strings.TrimPrefix(p, "/api/v1/orders/")]; !ok || "Bearer "+tok != r.Header.Get("Authorization") {
			problem(404, "NOT_FOUND")
			return
		}
		answer(200, map[string]string{"status": "CONFIRMED"})
	default:
		problem(404, "NOT_FOUND")
	}
}

func TestRunAgainstAFakeShop(t *testing.T) {
	kittest.CheckGoroutines(t)
	shop := &fakeShop{users: map[string]string{}, orders: map[string]string{}}
	srv := httptest.NewUnstartedServer(shop)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.json")
	var stdout, stderr strings.Builder
	const n = 150
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code := run(ctx, []string{
		"-target", srv.URL, "-cacert", ca, "-api-key", "test-key",
		"-rate", "300", "-requests", fmt.Sprint(n), "-duration", "4s", "-users", "3",
		"-mix", "get-product=4,place-order=3,get-order=3", "-json", out, "-quiet",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr.String())
	}
	if got := shop.measured.Load(); got != n {
		t.Errorf("the shop saw %d measured requests, want %d", got, n)
	}
	// Setup: a catalog page, then 3 × (register + login).
	if got := shop.apiKeys.Load(); got != n+1+6 {
		t.Errorf("%d requests carried the API key, want all %d", got, n+7)
	}

	var s Summary
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests != n || s.Succeeded+s.Failed != n {
		t.Errorf("report: %d requests (%d ok, %d failed), want %d", s.Requests, s.Succeeded, s.Failed, n)
	}
	// Only p-limited fails; roughly half the get-products (about 40% of
	// the run) pick it, and get-order always finds an order of its owner
	// (before the first order is placed it browses instead).
	if len(s.Errors) != 1 || s.Errors[0].Status != 429 || s.Errors[0].Code != "RATE_LIMITED" || s.Errors[0].Count != s.Failed {
		t.Errorf("errors %+v, want only 429 RATE_LIMITED", s.Errors)
	}
	if s.Failed == 0 || s.Failed > n*3/4 {
		t.Errorf("%d failures of %d: not what the mix makes likely", s.Failed, n)
	}
	routes := map[string]RouteSummary{}
	var sum int64
	for _, r := range s.Routes {
		routes[r.Route] = r
		sum += r.Requests
	}
	if sum != n || routes[routePlaceOrder].Requests == 0 || routes[routeGetOrder].Requests == 0 || routes[routeGetOrder].Failed != 0 {
		t.Errorf("routes %+v", s.Routes)
	}
	if s.Latency.P50 <= 0 || s.Latency.Max < s.Latency.P99 || s.Rate < 100 {
		t.Errorf("latency %+v, rate %.1f", s.Latency, s.Rate)
	}
	for _, want := range []string{fmt.Sprintf("%d requests in", n), "p99.9", "429  RATE_LIMITED"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, stdout.String())
		}
	}
}

// fakeProducts serves SearchProducts and GetProduct; "p-gone" is not found.
type fakeProducts struct {
	productsv1.UnimplementedProductsServiceServer
	gets atomic.Int64
}

func (f *fakeProducts) SearchProducts(context.Context, *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error) {
	return &productsv1.SearchProductsResponse{Products: []*productsv1.Product{{Id: "p-ok"}, {Id: "p-gone"}}}, nil
}

func (f *fakeProducts) GetProduct(_ context.Context, req *productsv1.GetProductRequest) (*productsv1.Product, error) {
	f.gets.Add(1)
	if req.GetId() == "p-gone" {
		st, _ := status.New(codes.NotFound, "no such product").WithDetails(&errdetails.ErrorInfo{Reason: "NOT_FOUND", Domain: "kitshop"})
		return nil, st.Err()
	}
	return &productsv1.Product{Id: req.GetId()}, nil
}

func TestGRPCRunWithGhz(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fake := &fakeProducts{}
	productsv1.RegisterProductsServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	var stdout, stderr strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const n = 60
	out := filepath.Join(t.TempDir(), "out.json")
	code := run(ctx, []string{"-grpc", "-grpc-plaintext", "-grpc-target", lis.Addr().String(),
		"-rate", "300", "-requests", fmt.Sprint(n), "-duration", "4s", "-json", out, "-quiet"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr.String())
	}
	if got := fake.gets.Load(); got != n {
		t.Errorf("server saw %d GetProduct calls, want %d", got, n)
	}
	var s Summary
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	// The two ids alternate: half the calls are NOT_FOUND.
	if s.Requests != n || s.Failed != n/2 {
		t.Errorf("report: %d requests, %d failed; want %d and %d\n%s", s.Requests, s.Failed, n, n/2, stdout.String())
	}
	if len(s.Errors) != 1 || s.Errors[0].Code != "NotFound NOT_FOUND" || s.Errors[0].Count != n/2 {
		t.Errorf("errors %+v", s.Errors)
	}
}
