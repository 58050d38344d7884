package grpcx_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/metrics"
)

const unaryCall = "grpc.testing.TestService/UnaryCall"

func TestControlCharactersAreRefusedOverGRPC(t *testing.T) {
	f := start(t)
	client := testpb.NewTestServiceClient(f.conn)
	_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{
		ResponseStatus: &testpb.EchoStatus{Message: "ad\x00min"},
	})
	st := kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
	if got := kittest.FieldViolations(st); len(got) != 1 || got[0] != "response_status.message" {
		t.Fatalf("field violations = %v, want [response_status.message]", got)
	}

	// A server stream's request arrives through RecvMsg: the same rule.
	stream, err := client.StreamingOutputCall(context.Background(), &testpb.StreamingOutputCallRequest{
		ResponseStatus: &testpb.EchoStatus{Message: "\x1b[2J"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)

	// Free text keeps its tabs and line breaks.
	if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{
		ResponseStatus: &testpb.EchoStatus{Message: "line one\r\n\tline two, café"},
	}); err != nil {
		t.Fatalf("free text refused: %v", err)
	}
}

func TestCheckTextNamesTheField(t *testing.T) {
	for _, c := range []struct {
		msg   any
		field string
	}{
		{&testpb.ClientConfigureRequest{Metadata: []*testpb.ClientConfigureRequest_Metadata{{Key: "ok"}, {Value: "a\x00"}}}, "metadata[1].value"},
		{&testpb.LoadBalancerStatsResponse{RpcsByMethod: map[string]*testpb.LoadBalancerStatsResponse_RpcsByPeer{
			"m": {RpcsByPeer: map[string]int32{"peer\u0085": 1}},
		}}, "rpcs_by_method.m.rpcs_by_peer"},
		{&testpb.LoadBalancerStatsResponse{MetadatasByPeer: map[string]*testpb.LoadBalancerStatsResponse_MetadataByPeer{
			"p": {RpcMetadata: []*testpb.LoadBalancerStatsResponse_RpcMetadata{{Metadata: []*testpb.LoadBalancerStatsResponse_MetadataEntry{{Value: "\x7f"}}}}},
		}}, "metadatas_by_peer.p.rpc_metadata[0].metadata[0].value"},
	} {
		e := kittest.WantErr(t, grpcx.CheckText(c.msg), errs.InvalidArgument, errs.ReasonValidation)
		if len(e.Fields) != 1 || e.Fields[0].Field != c.field {
			t.Errorf("%T: fields %+v, want %s", c.msg, e.Fields, c.field)
		}
	}
	if err := grpcx.CheckText(&testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Message: "fine"}}); err != nil {
		t.Fatalf("clean message: %v", err)
	}
	if err := grpcx.CheckText("not a message"); err != nil {
		t.Fatalf("non-message: %v", err)
	}
}

func TestCheckTextDoesNotAllocateOnCleanMessages(t *testing.T) {
	m := &testpb.SimpleRequest{ResponseSize: 3, FillUsername: true, ResponseStatus: &testpb.EchoStatus{Code: 1, Message: "3f2b8c1e-9a4d-4c3b-8f1e-2d6a7b9c0e15"}}
	if n := testing.AllocsPerRun(100, func() { _ = grpcx.CheckText(m) }); n != 0 {
		t.Fatalf("%v allocations per clean message", n)
	}
}

// TestStreamsPerConnectionAreCapped: 5,000 streams on one connection used
// to cost the server hundreds of megabytes. Past the cap a client's new
// stream waits (here until its deadline) and the server never holds more.
func TestStreamsPerConnectionAreCapped(t *testing.T) {
	const streamCap = 8
	var active, peak atomic.Int64
	count := grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return h(srv, ss)
	})
	f := startWith(t, func(c *grpcx.ServerConfig) { c.MaxStreams = streamCap }, count)
	hc := healthgrpc.NewHealthClient(f.conn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range streamCap {
		w, err := hc.Watch(ctx, &healthgrpc.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Recv(); err != nil { // the stream is established on the server
			t.Fatal(err)
		}
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer waitCancel()
	w, err := hc.Watch(waitCtx, &healthgrpc.HealthCheckRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("stream %d: %v, want it to wait for a free slot until its deadline", streamCap+1, err)
	}
	if p := peak.Load(); p != streamCap {
		t.Fatalf("server held %d streams at once, want %d", p, streamCap)
	}
	if grpcx.MaxStreamsPerConn != 128 {
		t.Fatalf("default MaxStreamsPerConn = %d", grpcx.MaxStreamsPerConn)
	}
	cancel()
	kittest.WaitFor(t, 5*time.Second, "streams ended", func() bool { return active.Load() == 0 })
}

// TestHandshakeTimeoutClosesSilentConnections: connections that never
// send the HTTP/2 preface used to stay open for two minutes each.
func TestHandshakeTimeoutClosesSilentConnections(t *testing.T) {
	f := startWith(t, func(c *grpcx.ServerConfig) { c.HandshakeTimeout = 200 * time.Millisecond })
	silent := make([]net.Conn, 100)
	for i := range silent {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent[i] = c
	}
	// A real client still gets through meanwhile.
	if _, err := healthgrpc.NewHealthClient(f.conn).Check(context.Background(), &healthgrpc.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check during the flood: %v", err)
	}
	for i, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1024)
		for {
			// The server may write its SETTINGS first; what matters is
			// that it then closes the connection.
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("silent connection %d still open after 5 s", i)
				}
				break
			}
		}
	}
}

func TestEveryUnaryCallHasADeadline(t *testing.T) {
	f := start(t)
	client := testpb.NewTestServiceClient(f.conn)
	secondsLeft := func(ctx context.Context) float64 {
		t.Helper()
		resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: sizeDeadline})
		if err != nil {
			t.Fatal(err)
		}
		s, err := strconv.ParseFloat(resp.GetUsername(), 64)
		if err != nil {
			t.Fatalf("no deadline on the server: %q", resp.GetUsername())
		}
		return s
	}
	if s := secondsLeft(context.Background()); s != grpcx.DefaultTimeout.Seconds() {
		t.Errorf("without a caller deadline: %vs left, want %v", s, grpcx.DefaultTimeout)
	}
	day, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
	defer cancel()
	if s := secondsLeft(day); s != grpcx.MaxTimeout.Seconds() {
		t.Errorf("with a day-long deadline: %vs left, want the cap %v", s, grpcx.MaxTimeout)
	}
	ten, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if s := secondsLeft(ten); s != 10 {
		t.Errorf("with a 10 s deadline: %vs left, want 10", s)
	}
}

// TestFrozenCallEndsAsDeadlineExceeded: work cut short by the deadline is
// reported as such, not as the Unavailable the store made of it.
func TestFrozenCallEndsAsDeadlineExceeded(t *testing.T) {
	f := startWith(t, func(c *grpcx.ServerConfig) { c.MaxTimeout = 100 * time.Millisecond })
	// The caller allows 5 s; the server's cap ends the work first, and
	// says why in the status's ErrorInfo.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := testpb.NewTestServiceClient(f.conn).UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: sizeFrozen})
	kittest.WantStatus(t, err, codes.DeadlineExceeded, errs.ReasonDeadline)
	if ctx.Err() != nil {
		t.Fatal("the call ran into the caller's own deadline")
	}
}

// failureLines are the log lines reporting a failed call.
func failureLines(t *testing.T, f *fixture) []map[string]any {
	var out []map[string]any
	for _, l := range f.logs.Lines(t) {
		if _, ok := l["err_kind"]; ok {
			out = append(out, l)
		}
	}
	return out
}

func grpcCount(f *fixture, code string) float64 {
	return testutil.ToFloat64(f.red.RequestsVec.WithLabelValues("widgets", metrics.TransportGRPC, unaryCall, code))
}

// TestEveryFailedUnaryCallIsReportedOnce: failures before the endpoint
// chain used to be neither logged nor counted; failures in it must not
// be reported twice. Every call has one log line, the server's, whoever
// failed it.
func TestEveryFailedUnaryCallIsReportedOnce(t *testing.T) {
	f := start(t)
	client := testpb.NewTestServiceClient(f.conn)

	// Refused by grpcx.Handler's decode, before the chain.
	_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizeBadDecode})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
	if lines := failureLines(t, f); len(lines) != 1 || lines[0]["method"] != unaryCall || lines[0]["err_reason"] != errs.ReasonValidation {
		t.Fatalf("decode failure logged as %v, want one line for %s", lines, unaryCall)
	}
	if n := grpcCount(f, "InvalidArgument"); n != 1 {
		t.Fatalf("decode failure counted %v times", n)
	}

	// Refused by the chain's endpoint: the chain counts it, the server
	// logs it, once each.
	f.logs.Reset()
	_, err = client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizeInvalid})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
	if lines := f.logs.Lines(t); len(lines) != 1 || lines[0]["method"] != unaryCall || lines[0]["status"] != "InvalidArgument" {
		t.Fatalf("endpoint failure logged as %v, want one line for %s", lines, unaryCall)
	}
	if n := grpcCount(f, "InvalidArgument"); n != 1 {
		t.Fatalf("an endpoint failure was counted again under transport grpc (%v)", n)
	}
	if n := testutil.ToFloat64(f.red.RequestsVec.WithLabelValues("widgets", metrics.TransportEndpoint, "GetWidget", "InvalidArgument")); n != 1 {
		t.Fatalf("endpoint counted %v", n)
	}

	// Refused by an interceptor (control characters), before the chain.
	f.logs.Reset()
	_, err = client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Message: "\x00"}})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
	if lines := failureLines(t, f); len(lines) != 1 {
		t.Fatalf("interceptor refusal logged as %v, want one line", lines)
	}
	if n := grpcCount(f, "InvalidArgument"); n != 2 {
		t.Fatalf("interceptor refusal not counted (%v)", n)
	}

	// A panic outside any chain: logged once (with its stack), counted once.
	f.logs.Reset()
	_, err = client.EmptyCall(context.Background(), &testpb.Empty{})
	kittest.WantStatus(t, err, codes.Internal, errs.ReasonInternal)
	if lines := f.logs.Lines(t); len(lines) != 1 || lines[0]["stack"] == nil || lines[0]["level"] != "error" {
		t.Fatalf("bare panic produced %v, want one error line with the stack", lines)
	}
	if n := testutil.ToFloat64(f.red.RequestsVec.WithLabelValues("widgets", metrics.TransportGRPC, "grpc.testing.TestService/EmptyCall", "Internal")); n != 1 {
		t.Fatalf("bare panic counted %v times", n)
	}

	// A panic inside the chain: its metrics count it, the call's line
	// carries the stack recovery noted.
	f.logs.Reset()
	_, err = client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizePanic})
	kittest.WantStatus(t, err, codes.Internal, errs.ReasonInternal)
	if lines := f.logs.Lines(t); len(lines) != 1 || lines[0]["stack"] == nil {
		t.Fatalf("chain panic produced %v, want one line with the stack", lines)
	}
	if n := grpcCount(f, "Internal"); n != 0 {
		t.Fatalf("chain panic counted again under transport grpc (%v)", n)
	}
}

// rawCodec sends bytes as they are, to put on the wire what a proto
// encoder would refuse to.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }
