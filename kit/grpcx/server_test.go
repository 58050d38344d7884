package grpcx_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/typed"
)

func TestHealthFollowsReadiness(t *testing.T) {
	f := start(t)
	hc := healthgrpc.NewHealthClient(f.conn)
	check := func(service string) healthgrpc.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := hc.Check(context.Background(), &healthgrpc.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		return resp.GetStatus()
	}
	for _, s := range []string{"", "widgets"} {
		if got := check(s); got != healthgrpc.HealthCheckResponse_NOT_SERVING {
			t.Errorf("before ready, %q = %v", s, got)
		}
	}
	f.ready.SetReady(true)
	for _, s := range []string{"", "widgets", "grpc.testing.TestService"} {
		if got := check(s); got != healthgrpc.HealthCheckResponse_SERVING {
			t.Errorf("after SetReady(true), %q = %v", s, got)
		}
	}
	f.ready.SetReady(false)
	for _, s := range []string{"", "widgets", "grpc.testing.TestService"} {
		if got := check(s); got != healthgrpc.HealthCheckResponse_NOT_SERVING {
			t.Errorf("after SetReady(false), %q = %v", s, got)
		}
	}
}

// TestStreamInterceptorsOnHealthWatch uses the health Watch stream, a real
// long-lived server stream, to check the stream logging and metrics.
func TestStreamInterceptorsOnHealthWatch(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := healthgrpc.NewHealthClient(f.conn).Watch(ctx, &healthgrpc.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	next := func() healthgrpc.HealthCheckResponse_ServingStatus {
		t.Helper()
		m, err := w.Recv()
		if err != nil {
			t.Fatalf("Watch.Recv: %v", err)
		}
		return m.GetStatus()
	}
	if s := next(); s != healthgrpc.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("first Watch status = %v", s)
	}
	const method = "grpc.health.v1.Health/Watch"
	inFlight := f.red.InFlightVec.WithLabelValues("widgets", "grpc-stream", method)
	if v := testutil.ToFloat64(inFlight); v != 1 {
		t.Errorf("in flight while watching = %v, want 1", v)
	}
	f.ready.SetReady(true)
	if s := next(); s != healthgrpc.HealthCheckResponse_SERVING {
		t.Fatalf("Watch after ready = %v", s)
	}
	cancel()
	_, err = w.Recv()
	if errs.KindOf(err) != errs.Canceled {
		t.Errorf("Recv after cancel = %v, want a Canceled domain error", err)
	}
	canceled := f.red.RequestsVec.WithLabelValues("widgets", "grpc-stream", method, "Canceled")
	kittest.WaitFor(t, 5*time.Second, "stream metrics", func() bool { return testutil.ToFloat64(canceled) == 1 })
	if v := testutil.ToFloat64(inFlight); v != 0 {
		t.Errorf("in flight after the stream ended = %v", v)
	}
	kittest.WaitFor(t, 5*time.Second, "stream log line", func() bool { return f.logs.Find(t, "method", method) != nil })
	if l := f.logs.Find(t, "method", method); l["err_kind"] != "Canceled" || l["level"] != "info" || l["duration_ms"] == nil ||
		l["transport"] != "grpc-stream" || l["status"] != "Canceled" {
		t.Errorf("stream log line = %v", l)
	}
}

func TestReflectionListsServices(t *testing.T) {
	f := start(t)
	stream, err := reflectionpb.NewServerReflectionClient(f.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("end of reflection stream = %v, want io.EOF passed through unchanged", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"grpc.testing.TestService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}

func TestDomainErrorOnTheWire(t *testing.T) {
	f := start(t)
	// A plain connection without kitshop's interceptors sees what any
	// client (grpcurl, another language) sees.
	raw, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, err = testpb.NewTestServiceClient(raw).UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizeNotFound})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.NotFound || st.Message() != "no widget 42" {
		t.Fatalf("status = %v, want NotFound \"no widget 42\"", err)
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil || info.GetReason() != "WIDGET_MISSING" || info.GetDomain() != errs.Domain || info.GetMetadata()["widget_id"] != "42" {
		t.Errorf("ErrorInfo = %v, want reason WIDGET_MISSING, domain kitshop, widget_id 42", info)
	}
}

func TestClientRebuildsDomainErrors(t *testing.T) {
	f := start(t)
	client := testpb.NewTestServiceClient(f.conn)

	_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizeNotFound})
	var de *errs.Error
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a domain error", err, err)
	}
	if de.Kind != errs.NotFound || de.Reason != "WIDGET_MISSING" || de.Meta["widget_id"] != "42" {
		t.Errorf("rebuilt error = %+v", de)
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("status.Code of the rebuilt error = %v, want NotFound still visible", status.Code(err))
	}

	_, err = client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizeInvalid})
	if e := errs.As(err); e.Kind != errs.InvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != "size" {
		t.Errorf("validation error = %+v, want InvalidArgument with field size", e)
	}

	_, err = client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizeDown})
	if e := errs.As(err); e.Kind != errs.Unavailable || e.Reason != "STORE_DOWN" || strings.Contains(e.Message, "10.1.2.3") {
		t.Errorf("infrastructure error = %+v: want Unavailable STORE_DOWN without the cause", e)
	}
}

func TestClientEndpoint(t *testing.T) {
	f := start(t)
	ep := grpcx.ClientEndpoint(testpb.NewTestServiceClient(f.conn).UnaryCall, encWidgetReq, decWidgetResp)
	call := typed.Func[widgetReq, widgetResp](ep)

	got, err := call(context.Background(), widgetReq{Size: 7})
	if err != nil || got.Name != "widget-7" {
		t.Fatalf("call = %+v, %v", got, err)
	}
	if _, err := call(context.Background(), widgetReq{Size: sizeNotFound}); errs.ReasonOf(err) != "WIDGET_MISSING" {
		t.Errorf("error = %v, want WIDGET_MISSING", err)
	}
	if _, err := ep(context.Background(), "not a widgetReq"); errs.KindOf(err) != errs.Internal {
		t.Errorf("wrong request type = %v, want Internal", err)
	}
}

func TestPanicsBecomeInternal(t *testing.T) {
	f := start(t)
	client := testpb.NewTestServiceClient(f.conn)
	for name, call := range map[string]func() error{
		"endpoint": func() error {
			_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: sizePanic})
			return err
		},
		"bare handler": func() error {
			_, err := client.EmptyCall(context.Background(), &testpb.Empty{})
			return err
		},
	} {
		err := call()
		st, _ := status.FromError(err)
		if st.Code() != codes.Internal || errs.ReasonOf(err) != errs.ReasonInternal {
			t.Errorf("%s: %v, want Internal", name, err)
		}
		if strings.Contains(st.Message(), "panic") || strings.Contains(st.Message(), "10.1.2.3") {
			t.Errorf("%s: panic details leaked to the client: %q", name, st.Message())
		}
	}
	// The server is still up.
	if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 1}); err != nil {
		t.Fatalf("server dead after panics: %v", err)
	}
	var panics int
	for _, l := range f.logs.Lines(t) {
		if l["stack"] == nil {
			continue
		}
		panics++
		if l["msg"] != "request" || l["level"] != "error" || !strings.Contains(asString(l["stack"]), "service_test.go") ||
			!strings.Contains(asString(l["err"]), "panic") {
			t.Errorf("panic log line = %v, want the call's line at error with the panic and its stack", l)
		}
	}
	if panics != 2 {
		t.Errorf("%d lines with a stack, want one per panic (2):\n%s", panics, f.logs)
	}
	if v := testutil.ToFloat64(f.red.RequestsVec.WithLabelValues("widgets", "endpoint", "GetWidget", "Internal")); v != 1 {
		t.Errorf("endpoint panic counted %v times as Internal, want 1", v)
	}
}

func TestStreamInterceptors(t *testing.T) {
	f := start(t)
	client := testpb.NewTestServiceClient(f.conn)
	run := func(body string) (int, error) {
		t.Helper()
		s, err := client.StreamingOutputCall(context.Background(), &testpb.StreamingOutputCallRequest{
			ResponseParameters: []*testpb.ResponseParameters{{}, {}, {}},
			Payload:            &testpb.Payload{Body: []byte(body)},
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			if _, err := s.Recv(); err != nil {
				return n, err
			}
			n++
		}
	}
	if n, err := run(""); n != 3 || !errors.Is(err, io.EOF) {
		t.Errorf("ok stream: %d messages, end %v; want 3 and io.EOF", n, err)
	}
	if n, err := run("fail"); n != 3 || errs.KindOf(err) != errs.FailedPrecondition || errs.ReasonOf(err) != "STREAM_REFUSED" {
		t.Errorf("failing stream: %d messages, end %v; want 3 and FailedPrecondition STREAM_REFUSED", n, err)
	}
	if _, err := run("panic"); errs.KindOf(err) != errs.Internal {
		t.Errorf("panicking stream ended with %v, want Internal", err)
	}

	const method = "grpc.testing.TestService/StreamingOutputCall"
	for code, want := range map[string]float64{"OK": 1, "FailedPrecondition": 1, "Internal": 1} {
		if v := testutil.ToFloat64(f.red.RequestsVec.WithLabelValues("widgets", "grpc-stream", method, code)); v != want {
			t.Errorf("stream %s count = %v, want %v", code, v, want)
		}
	}
	var levels []string
	for _, l := range f.logs.Lines(t) {
		if l["method"] == method {
			levels = append(levels, asString(l["level"])+":"+asString(l["err_kind"]))
		}
	}
	if want := []string{"debug:", "info:FailedPrecondition", "error:Internal"}; !slices.Equal(levels, want) {
		t.Errorf("stream log lines = %v, want %v", levels, want)
	}
	if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 1}); err != nil {
		t.Errorf("server dead after stream panic: %v", err)
	}
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// TestTraceAndRequestIDCrossTheHop checks that the client's trace (B3 in
// metadata, via the stats handlers) and request id reach the server's logs
// and spans.
func TestTraceAndRequestIDCrossTheHop(t *testing.T) {
	f := start(t)
	sp, ctx := f.clientTr.StartSpanFromContext(context.Background(), "caller-op")
	ctx = logx.WithRequestID(ctx, "req-abc")
	if _, err := testpb.NewTestServiceClient(f.conn).UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 3}); err != nil {
		t.Fatal(err)
	}
	sp.Finish()
	want := tracing.TraceID(ctx)

	l := f.logs.Find(t, "method", "grpc.testing.TestService/UnaryCall")
	if l == nil || l["trace_id"] != want || l["request_id"] != "req-abc" {
		t.Errorf("server log line = %v, want trace_id %s and request_id req-abc", l, want)
	}
	kittest.WaitFor(t, 5*time.Second, "server spans", func() bool { return len(f.spans.Spans()) >= 1 })
	var names []string
	var endpointTag string
	for _, s := range f.spans.Spans() {
		if s.TraceID.String() != want {
			t.Errorf("server span %s is in trace %s, want %s", s.Name, s.TraceID, want)
		}
		names = append(names, string(s.Kind)+":"+s.Name)
		if s.Kind == "SERVER" {
			endpointTag = s.Tags[mw.TagEndpoint]
		}
	}
	if !slices.Contains(names, "SERVER:grpc.testing.TestService.UnaryCall") || len(names) != 1 {
		t.Errorf("server spans = %v, want exactly the SERVER span for the RPC", names)
	}
	// The endpoint chain annotates the transport's span rather than
	// opening a second one (mw.ServerTracing).
	if endpointTag != "GetWidget" {
		t.Errorf("SERVER span endpoint tag = %q, want GetWidget", endpointTag)
	}
	var clientSpan bool
	for _, s := range f.clientRec.Spans() {
		clientSpan = clientSpan || s.Kind == "CLIENT"
	}
	if !clientSpan {
		t.Error("no CLIENT span recorded by the caller")
	}
}

// TestUnsampledTraceCrossesTheHop: a call in a trace that is not sampled
// records no span on either side, yet the server's log line carries the
// caller's trace id and request id (the cheap unsampled spans of
// kit/tracing carry the trace on).
func TestUnsampledTraceCrossesTheHop(t *testing.T) {
	f := start(t)
	no := false
	parent := model.SpanContext{TraceID: model.TraceID{High: 3, Low: 5}, ID: 9, Sampled: &no}
	sp := f.clientTr.StartSpan("caller-op", zipkin.Parent(parent))
	ctx := logx.WithRequestID(zipkin.NewContext(context.Background(), sp), "req-unsampled")
	if _, err := testpb.NewTestServiceClient(f.conn).UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 3}); err != nil {
		t.Fatal(err)
	}
	sp.Finish()
	l := f.logs.Find(t, "request_id", "req-unsampled")
	if want := tracing.TraceID(ctx); l == nil || l["trace_id"] != want {
		t.Errorf("server log line = %v, want trace_id %s", l, want)
	}
	if n := len(f.spans.Spans()) + len(f.clientRec.Spans()); n != 0 {
		t.Errorf("%d spans recorded for an unsampled trace", n)
	}
}
