package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/bojand/ghz/runner"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

const getProductMethod = "kitshop.products.v1.ProductsService.GetProduct"

// grpcWorkers is how many ghz workers take the pacer's ticks. In async
// mode each tick becomes its own goroutine, so this is not a cap on
// requests in flight: the run stays open-loop.
const grpcWorkers = 8

// runGRPC drives products' GetProduct with ghz: ids from one
// SearchProducts, the same schedule as HTTP, TLS from the same flags.
func runGRPC(ctx context.Context, c *config, stderr io.Writer) (Summary, error) {
	creds, err := c.grpcCredentials()
	if err != nil {
		return Summary{}, err
	}
	ids, err := productIDs(ctx, c, creds)
	if err != nil {
		return Summary{}, err
	}
	data := make([]any, len(ids))
	for i, id := range ids {
		data[i] = map[string]any{"id": id}
	}
	protoset, err := protosetOf(productsv1.File_products_v1_products_proto)
	if err != nil {
		return Summary{}, err
	}

	bar := newProgress(stderr, c.sched.expected(c.duration), c.quiet)
	tally := &grpcTally{errs: map[string]int64{}, bar: bar}
	total := c.sched.limit
	if total == 0 {
		total = math.MaxInt32
	}
	opts := []runner.Option{
		runner.WithProtosetBinary(protoset),
		// An array is sent round-robin, one element per call.
		runner.WithData(data),
		runner.WithPacer(c.sched.pacer(c.duration)),
		runner.WithAsync(true),
		runner.WithConcurrency(grpcWorkers),
		runner.WithTotalRequests(uint(total)),
		runner.WithTimeout(c.timeout),
		runner.WithDefaultCallOptions([]grpc.CallOption{grpc.OnFinish(tally.finished)}),
		runner.WithSkipTLSVerify(c.skipVerify),
	}
	if c.grpcPlaintext {
		opts = append(opts, runner.WithInsecure(true))
	} else {
		if c.cacert != "" {
			opts = append(opts, runner.WithRootCertificate(c.cacert))
		}
		if c.cert != "" {
			opts = append(opts, runner.WithCertificate(c.cert, c.key))
		}
	}
	bar.start()
	report, err := runner.Run(getProductMethod, c.grpcTarget, opts...)
	bar.finish()
	if err != nil && report == nil {
		return Summary{}, fmt.Errorf("ghz: %w", err)
	}

	rec := newRecorder()
	for _, d := range report.Details {
		failed := d.Status != "OK"
		// ghz stamps a call with its end; the start is that less its latency.
		rec.record(outcome{route: "GetProduct", start: d.Timestamp.Add(-d.Latency), latency: d.Latency, failed: failed})
	}
	// The failures' codes come from the calls' own errors, which carry
	// the ErrorInfo reason; ghz's details keep only the status name.
	rec.errs = tally.snapshot()
	s := rec.summary()
	s.Target, s.Scenario, s.Schedule = c.grpcTarget, "gRPC GetProduct", c.sched.String()
	if report.EndReason != runner.ReasonNormalEnd {
		s.Stopped = string(report.EndReason)
	}
	return s, nil
}

// grpcTally counts each finished call's outcome as it happens: live
// progress, and the errors by code with their reasons.
type grpcTally struct {
	mu   sync.Mutex
	errs map[string]int64
	bar  *progress
}

func (t *grpcTally) finished(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.errs[grpcCode(err)]++
	}
	t.bar.done(err != nil)
}

func (t *grpcTally) snapshot() map[errorKey]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[errorKey]int64, len(t.errs))
	for code, n := range t.errs {
		out[errorKey{Code: code}] = n
	}
	return out
}

// grpcCode is a status's code name and ErrorInfo reason, e.g.
// "NotFound PRODUCT_NOT_FOUND".
func grpcCode(err error) string {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			return st.Code().String() + " " + info.GetReason()
		}
	}
	return st.Code().String()
}

func (c *config) grpcCredentials() (credentials.TransportCredentials, error) {
	if c.grpcPlaintext {
		return insecure.NewCredentials(), nil
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(tc), nil
}

// productIDs lists up to 100 products with one SearchProducts.
func productIDs(ctx context.Context, c *config, creds credentials.TransportCredentials) ([]string, error) {
	conn, err := grpc.NewClient(c.grpcTarget, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, c.setupTime)
	defer cancel()
	resp, err := productsv1.NewProductsServiceClient(conn).SearchProducts(ctx, &productsv1.SearchProductsRequest{PageSize: 100})
	if err != nil {
		return nil, fmt.Errorf("listing products on %s: %w", c.grpcTarget, err)
	}
	ids := make([]string, 0, len(resp.GetProducts()))
	for _, p := range resp.GetProducts() {
		ids = append(ids, p.GetId())
	}
	if len(ids) == 0 {
		return nil, errors.New("the catalog is empty: nothing to get")
	}
	return ids, nil
}

// protosetOf is a compiled file and its imports as a FileDescriptorSet,
// dependencies first: ghz learns the method from it instead of from the
// server's reflection or .proto files on disk.
func protosetOf(fd protoreflect.FileDescriptor) ([]byte, error) {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imports := f.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	add(fd)
	return proto.Marshal(set)
}
