package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot/boottest"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/tlsx"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	"github.com/kitshop/kitshop/products/client"
)

// BenchmarkGetProduct compares GetProduct through the whole kitshop chain
// with a bare grpc-go server returning the same message, over real
// loopback connections, back to back in the same run (the VM is noisy:
// compare the pair of one run, never figures of different runs).
//
//   - kitshop: a products process built as main builds it (kit/boot's
//     gRPC server with every interceptor, the allow-list, JWT
//     verification, the tracing and failure-reporting stats handlers; the
//     endpoint chain: tracing, logging, metrics, load shedding; the
//     service and the memory store), called the way the gateway calls it:
//     products/client over the sd.BackendConfig that
//     kit/boot.Process.Backend makes (go-kit endpointer over a fixed
//     instancer, round robin, breaker, retry policy and budget, client
//     tracing and metrics).
//   - bare-grpc: grpc.NewServer returning a fixed message, called with the
//     plain generated client, sending the same request id.
//
// The call is an anonymous catalog read (no token), the common case of
// GetProduct; BenchmarkGetUser covers a call carrying a JWT. The -mtls
// variants run both over mutual TLS. 32 concurrent callers, as in
// BenchmarkGetUser; run the pair several times with -count=1 each and
// take the median of the per-run ratios:
//
//	go test -run '^$' -bench 'GetProduct/(kitshop|bare-grpc)$' -benchtime 2s ./products
func BenchmarkGetProduct(b *testing.B) {
	svc := NewService(newMemoryStore(), Options{})
	ctx := context.Background()
	p, err := svc.CreateProduct(ctx, NewProduct{SKU: "MUG-1", Name: "Blue mug", Description: "A ceramic coffee mug",
		Category: "kitchen", PriceCents: 1299, Currency: "USD", Stock: 5})
	if err != nil {
		b.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	req := &productsv1.GetProductRequest{Id: p.ID}
	files, err := tlsx.WriteDevFiles(b.TempDir(), client.Service, benchCaller)
	if err != nil {
		b.Fatal(err)
	}
	callerCtx := logx.WithRequestID(ctx, benchRequestID)
	bareCtx := metadata.AppendToOutgoingContext(ctx, grpcx.RequestIDMetadata, benchRequestID)

	for _, mtls := range []bool{false, true} {
		suffix, serverFiles, callerFiles := "", tlsx.Files{}, tlsx.Files{}
		if mtls {
			suffix, serverFiles, callerFiles = "-mtls", files[client.Service], files[benchCaller]
		}
		b.Run("kitshop"+suffix, func(b *testing.B) {
			addr := startProductsProcess(b, svc, pub, serverFiles)
			c := newProductsCaller(b, addr, callerFiles)
			kittest.BenchCalls(b, func() error {
				_, err := c.GetProduct(callerCtx, req)
				return err
			})
		})
		b.Run("bare-grpc"+suffix, func(b *testing.B) {
			c := plainClient(b, startBareProducts(b, productToPB(p), serverFiles), callerFiles)
			kittest.BenchCalls(b, func() error {
				_, err := c.GetProduct(bareCtx, req)
				return err
			})
		})
		b.Run("server-chain"+suffix, func(b *testing.B) {
			c := plainClient(b, startProductsProcess(b, svc, pub, serverFiles), callerFiles)
			kittest.BenchCalls(b, func() error {
				_, err := c.GetProduct(bareCtx, req)
				return err
			})
		})
	}
}

// TestGetProductBenchmarkWiring makes one call through each side of
// BenchmarkGetProduct, plaintext and mTLS, so a change that breaks the
// benchmark's wiring fails `make test`, which runs no benchmark.
func TestGetProductBenchmarkWiring(t *testing.T) {
	svc := NewService(newMemoryStore(), Options{})
	ctx := context.Background()
	p, err := svc.CreateProduct(ctx, NewProduct{SKU: "WIRE-1", Name: "Wire", Category: "misc", PriceCents: 100, Currency: "USD", Stock: 1})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files, err := tlsx.WriteDevFiles(t.TempDir(), client.Service, benchCaller)
	if err != nil {
		t.Fatal(err)
	}
	req := &productsv1.GetProductRequest{Id: p.ID}
	for _, mtls := range []bool{false, true} {
		serverFiles, callerFiles := tlsx.Files{}, tlsx.Files{}
		if mtls {
			serverFiles, callerFiles = files[client.Service], files[benchCaller]
		}
		c := newProductsCaller(t, startProductsProcess(t, svc, pub, serverFiles), callerFiles)
		if got, err := c.GetProduct(ctx, req); err != nil || got.GetSku() != p.SKU {
			t.Fatalf("mTLS %v: kitshop GetProduct = %v, %v", mtls, got, err)
		}
		bare := plainClient(t, startBareProducts(t, productToPB(p), serverFiles), callerFiles)
		if got, err := bare.GetProduct(ctx, req); err != nil || got.GetSku() != p.SKU {
			t.Fatalf("mTLS %v: bare GetProduct = %v, %v", mtls, got, err)
		}
	}
}

// benchCaller is the calling process's identity; benchRequestID the
// request id every call carries.
const (
	benchCaller    = "gateway"
	benchRequestID = "bench-request-0123456789"
)

// bareProducts answers GetProduct with a fixed message.
type bareProducts struct {
	productsv1.UnimplementedProductsServiceServer
	product *productsv1.Product
}

func (s bareProducts) GetProduct(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error) {
	return s.product, nil
}

// startProductsProcess runs a products process wired as main wires it
// (tokens verified with a fixed key, as with -jwt-public-key-file), on
// svc, until the benchmark ends, and returns its gRPC address.
func startProductsProcess(b testing.TB, svc Service, pub ed25519.PublicKey, files tlsx.Files) string {
	b.Helper()
	p := boottest.Process(b, client.Service, true, files)
	verifier := auth.NewVerifier(auth.StaticKeys(pub))
	endpoints := MakeEndpoints(svc, p.Chain)
	grpcSrv := p.GRPCServer(append(p.AllowCallers(internalMethods), verifier.GRPCServerOptions()...)...)
	productsv1.RegisterProductsServiceServer(grpcSrv, NewGRPCServer(endpoints, svc, p.Ready))
	return boottest.Serve(b, p, NewHTTPHandler(endpoints, verifier), grpcSrv)
}

// newProductsCaller is products/client as another kitshop process builds
// it: kit/boot's Backend configuration, pointed at addr.
func newProductsCaller(b testing.TB, addr string, files tlsx.Files) client.Client {
	b.Helper()
	c, err := client.New(boottest.Backend(b, benchCaller, client.Service, addr, files))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// startBareProducts serves bareProducts with a plain grpc.NewServer (under mTLS when
// files are set) until the benchmark ends and returns its address.
func startBareProducts(b testing.TB, product *productsv1.Product, files tlsx.Files) string {
	return kittest.BareServer(b, files, func(srv *grpc.Server) { productsv1.RegisterProductsServiceServer(srv, bareProducts{product: product}) })
}

// plainClient is the generated client over a plain connection to addr
// (under mTLS, as the caller, when files are set).
func plainClient(b testing.TB, addr string, files tlsx.Files) productsv1.ProductsServiceClient {
	return productsv1.NewProductsServiceClient(kittest.PlainConn(b, addr, files, client.Service))
}
