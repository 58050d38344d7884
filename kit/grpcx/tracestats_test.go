package grpcx_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/openzipkin/zipkin-go/propagation/baggage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tracing"
)

// TestTracingMatchesZipkinMiddleware runs the same calls, unary and
// streaming, through zipkin-go's gRPC stats handlers (kit/tracing's) and
// through kit/grpcx's server stats handler and client interceptors, and
// requires the same spans (names, kinds, parents, remote endpoints, tags,
// sampling) and the same B3 headers at the server.
func TestTracingMatchesZipkinMiddleware(t *testing.T) {
	f, no := false, uint64(0x0102030405060708)
	unsampledParent := model.SpanContext{TraceID: model.TraceID{Low: 7}, ID: model.ID(no), Sampled: &f}
	debugParent := model.SpanContext{TraceID: model.TraceID{Low: 9}, ID: model.ID(no), Debug: true}
	bag := baggage.New("x-tenant").New()
	bag.Add("x-tenant", "acme")
	baggageParent := model.SpanContext{TraceID: model.TraceID{Low: 11}, ID: model.ID(no), Baggage: bag}

	cases := []struct {
		name string
		// prepare returns the caller's context; tr is the client's tracer.
		prepare func(ctx context.Context, tr *zipkin.Tracer) (context.Context, func())
		call    func(ctx context.Context, c testpb.TestServiceClient) error
	}{
		{name: "root", prepare: plainCaller, call: unaryOK},
		{name: "child of a local span", prepare: func(ctx context.Context, tr *zipkin.Tracer) (context.Context, func()) {
			sp, ctx := tr.StartSpanFromContext(ctx, "local")
			return ctx, sp.Finish
		}, call: unaryOK},
		{name: "failure", prepare: plainCaller, call: unaryNotFound},
		{name: "caller's metadata kept", prepare: func(ctx context.Context, _ *zipkin.Tracer) (context.Context, func()) {
			return metadata.AppendToOutgoingContext(ctx, "x-request-id", "r-1", "x-b3-sampled", "0"), func() {}
		}, call: unaryOK},
		{name: "made while serving a call", prepare: func(ctx context.Context, _ *zipkin.Tracer) (context.Context, func()) {
			addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 4567}
			return peer.NewContext(ctx, &peer.Peer{Addr: addr}), func() {}
		}, call: unaryOK},
		{name: "unsampled parent", prepare: withParent(unsampledParent), call: unaryOK},
		{name: "debug parent", prepare: withParent(debugParent), call: unaryOK},
		{name: "parent with baggage", prepare: withParent(baggageParent), call: unaryOK},
		{name: "server stream read to its end", prepare: plainCaller, call: serverStream("ok")},
		{name: "server stream failing", prepare: plainCaller, call: serverStream("fail")},
		{name: "server stream given up by its caller", prepare: plainCaller, call: serverStream("cancel")},
		{name: "client stream", prepare: plainCaller, call: clientStream},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			zipkinClient := func(tr *zipkin.Tracer) []grpc.DialOption {
				return []grpc.DialOption{grpc.WithStatsHandler(tracing.GRPCClientHandler(tr))}
			}
			sampled := c.name != "unsampled parent"
			want := traceOnce(t, tracing.GRPCServerHandler, zipkinClient, c.prepare, c.call, sampled)
			got := traceOnce(t, grpcx.NewServerTracing, grpcx.ClientTracing, c.prepare, c.call, sampled)
			// One deliberate difference: kitshop's client span names the
			// callee as its remote end (the connection's target), where
			// zipkin-go names the peer in ctx (the caller's caller, or
			// nobody).
			for _, line := range strings.Split(got, "\n") {
				if strings.Contains(line, "kind=CLIENT") && !strings.Contains(line, "remote=127.0.0.1:server's") {
					t.Errorf("client span without the callee as remote end: %s", line)
				}
			}
			got, want = clientRemote.ReplaceAllString(got, "$1remote=callee"), clientRemote.ReplaceAllString(want, "$1remote=callee")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("kitshop's handlers traced\n%s\nzipkin-go's\n%s", got, want)
			}
			if c.name == "root" && !strings.Contains(want, "kind=SERVER") {
				t.Fatalf("the comparison saw no server span:\n%s", want)
			}
		})
	}
}

// clientRemote matches a client span line's remote endpoint.
var clientRemote = regexp.MustCompile(`(kind=CLIENT trace=\S+ parent=\S+ )remote=\S+`)

func plainCaller(ctx context.Context, _ *zipkin.Tracer) (context.Context, func()) {
	return ctx, func() {}
}

func withParent(sc model.SpanContext) func(context.Context, *zipkin.Tracer) (context.Context, func()) {
	return func(ctx context.Context, tr *zipkin.Tracer) (context.Context, func()) {
		sp := tr.StartSpan("local", zipkin.Parent(sc))
		return zipkin.NewContext(ctx, sp), sp.Finish
	}
}

func unaryOK(ctx context.Context, c testpb.TestServiceClient) error {
	_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
	return err
}

func unaryNotFound(ctx context.Context, c testpb.TestServiceClient) error {
	_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound)}})
	if status.Code(err) != codes.NotFound {
		return fmt.Errorf("want NotFound, got %v", err)
	}
	return nil
}

// serverStream asks for two messages and reads them all ("ok"), gets
// one and then NotFound ("fail"), or reads one and gives up ("cancel").
func serverStream(how string) func(context.Context, testpb.TestServiceClient) error {
	return func(ctx context.Context, c testpb.TestServiceClient) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{
			Payload:            &testpb.Payload{Body: []byte(how)},
			ResponseParameters: []*testpb.ResponseParameters{{}, {}},
		})
		if err != nil {
			return err
		}
		if _, err := stream.Recv(); err != nil {
			return err
		}
		switch how {
		case "cancel":
			cancel()
			return nil
		case "fail":
			if _, err := stream.Recv(); status.Code(err) != codes.NotFound {
				return fmt.Errorf("want NotFound, got %v", err)
			}
			return nil
		}
		for {
			if _, err := stream.Recv(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
}

func clientStream(ctx context.Context, c testpb.TestServiceClient) error {
	stream, err := c.StreamingInputCall(ctx)
	if err != nil {
		return err
	}
	for range 2 {
		if err := stream.Send(&testpb.StreamingInputCallRequest{}); err != nil {
			return err
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// traceOnce makes one call between a server and a client traced by the
// given server stats handler and client dial options, and describes what
// was traced, with ids replaced by the role of the span they belong to,
// so two runs compare.
func traceOnce(t *testing.T, server func(*zipkin.Tracer) stats.Handler, client func(*zipkin.Tracer) []grpc.DialOption,
	prepare func(context.Context, *zipkin.Tracer) (context.Context, func()),
	call func(context.Context, testpb.TestServiceClient) error, sampled bool) string {
	t.Helper()
	serverTr, serverRec := kittest.NewTracer(t, "server")
	clientTr, clientRec := kittest.NewTracer(t, "client")
	svc := &b3Echo{}
	srv := grpc.NewServer(grpc.StatsHandler(server(serverTr)))
	testpb.RegisterTestServiceServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(),
		append(client(clientTr), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ctx, done := prepare(context.Background(), clientTr)
	if err := call(ctx, testpb.NewTestServiceClient(conn)); err != nil {
		t.Fatal(err)
	}
	done()
	// Both ends finish their spans on their own goroutines once the call
	// is over (a given-up stream's when the cancellation lands). An
	// unsampled trace records none.
	if sampled {
		kittest.WaitFor(t, 5*time.Second, "the call's spans", func() bool {
			return hasKind(clientRec, model.Client) && hasKind(serverRec, model.Server)
		})
	}
	return describe(clientRec.Spans(), serverRec.Spans(), svc.headers(), lis.Addr().String())
}

// hasKind reports whether rec holds a finished span of kind.
func hasKind(rec *kittest.SpanRecorder, kind model.Kind) bool {
	for _, s := range rec.Spans() {
		if s.Kind == kind {
			return true
		}
	}
	return false
}

// b3Echo records the B3 headers (and the caller's own) it receives, and
// answers as the request says.
type b3Echo struct {
	testpb.UnimplementedTestServiceServer
	mu   sync.Mutex
	seen metadata.MD
}

func (s *b3Echo) record(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.seen = metadata.MD{}
	for k, v := range md {
		if strings.HasPrefix(k, "x-b3-") || k == "b3" || k == "x-request-id" || k == "x-tenant" {
			s.seen[k] = v
		}
	}
	s.mu.Unlock()
	if zipkin.SpanFromContext(ctx) == nil {
		return status.Error(codes.Internal, "no server span in the handler's context")
	}
	return nil
}

func (s *b3Echo) UnaryCall(ctx context.Context, r *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if err := s.record(ctx); err != nil {
		return nil, err
	}
	if c := r.GetResponseStatus().GetCode(); c != 0 {
		return nil, status.Error(codes.Code(c), "as asked")
	}
	return &testpb.SimpleResponse{}, nil
}

func (s *b3Echo) StreamingOutputCall(r *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	if err := s.record(stream.Context()); err != nil {
		return err
	}
	for i := range r.GetResponseParameters() {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
		switch string(r.GetPayload().GetBody()) {
		case "fail":
			return status.Error(codes.NotFound, "no more")
		case "cancel":
			if i == 0 {
				<-stream.Context().Done()
				return stream.Context().Err()
			}
		}
	}
	return nil
}

func (s *b3Echo) StreamingInputCall(stream grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	if err := s.record(stream.Context()); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err == io.EOF {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{})
		} else if err != nil {
			return err
		}
	}
}

func (s *b3Echo) headers() metadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// describe renders spans and headers with ids named by role ("local",
// "client", "server" and "trace-N" for trace ids) and addresses by kind.
func describe(clientSpans, serverSpans []model.SpanModel, headers metadata.MD, serverAddr string) string {
	roles := map[string]string{}
	name := func(id string) string {
		if id == "" {
			return "-"
		}
		if r, ok := roles[id]; ok {
			return r
		}
		r := fmt.Sprintf("id-%d", len(roles))
		roles[id] = r
		return r
	}
	all := append(append([]model.SpanModel(nil), clientSpans...), serverSpans...)
	for _, s := range all {
		role := strings.ToLower(string(s.Kind))
		if role == "" {
			role = s.Name
		}
		roles[s.ID.String()] = role
		if _, ok := roles[s.TraceID.String()]; !ok {
			roles[s.TraceID.String()] = fmt.Sprintf("trace-%d", len(roles))
		}
	}
	var lines []string
	for _, s := range all {
		parent := "-"
		if s.ParentID != nil {
			parent = name(s.ParentID.String())
		}
		sampled := "nil"
		if s.Sampled != nil {
			sampled = fmt.Sprint(*s.Sampled)
		}
		var tags []string
		for k, v := range s.Tags {
			tags = append(tags, k+"="+v)
		}
		sort.Strings(tags)
		lines = append(lines, fmt.Sprintf("span %q kind=%s trace=%s parent=%s remote=%s shared=%v debug=%v sampled=%s tags=%v",
			s.Name, s.Kind, name(s.TraceID.String()), parent, endpointKind(s.RemoteEndpoint, serverAddr), s.Shared, s.Debug, sampled, tags))
	}
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := make([]string, len(headers[k]))
		for i, v := range headers[k] {
			vals[i] = v
			if strings.HasPrefix(k, "x-b3-") && strings.HasSuffix(k, "id") {
				vals[i] = name(v)
			}
		}
		lines = append(lines, fmt.Sprintf("header %s=%v", k, vals))
	}
	return strings.Join(lines, "\n")
}

func endpointKind(ep *model.Endpoint, serverAddr string) string {
	if ep == nil {
		return "none"
	}
	port := "ephemeral"
	if ep.Port == 0 {
		port = "0"
	} else if strings.HasSuffix(serverAddr, fmt.Sprintf(":%d", ep.Port)) {
		port = "server's"
	} else if ep.Port == 4567 {
		port = "4567"
	}
	return fmt.Sprintf("%s:%s/%q", ep.IPv4, port, ep.ServiceName)
}

func TestSpanNamesAreBounded(t *testing.T) {
	methods := make([]string, grpcx.MaxSpanNames+50)
	for i := range methods {
		methods[i] = fmt.Sprintf("/pkg.Svc%d/Method", i)
	}
	methods = append(methods, "/pkg.Svc0/Method")
	names, kept := grpcx.SpanNameCache(methods)
	if kept != grpcx.MaxSpanNames {
		t.Errorf("kept %d span names, want the bound %d", kept, grpcx.MaxSpanNames)
	}
	for i, m := range methods {
		want := strings.ReplaceAll(strings.TrimPrefix(m, "/"), "/", ".")
		if names[i] != want {
			t.Fatalf("span name of %s = %q, want %q", m, names[i], want)
		}
	}
}

// TestB3IDsAreSpelledAsZipkinDoes: the ids kit/grpcx puts in B3 headers
// read exactly as zipkin-go's own String methods write them.
func TestB3IDsAreSpelledAsZipkinDoes(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xabc, 0x0102030405060708, 0xffffffffffffffff, 0x8000000000000000} {
		if got, want := grpcx.IDHex(model.ID(v)), model.ID(v).String(); got != want {
			t.Errorf("span id %#x spelled %q, want %q", v, got, want)
		}
		for _, high := range []uint64{0, 7, v} {
			id := model.TraceID{High: high, Low: v}
			if got, want := grpcx.TraceIDHex(id), id.String(); got != want {
				t.Errorf("trace id %v spelled %q, want %q", id, got, want)
			}
		}
	}
}
