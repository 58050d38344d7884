package grpcx_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
)

// badUTF8 is a SimpleRequest whose response_status.message (field 7,
// then 2) holds invalid UTF-8, which a proto encoder refuses to send.
func badUTF8() []byte {
	inner := protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "\xff\xfe")
	return protowire.AppendBytes(protowire.AppendTag(nil, 7, protowire.BytesType), inner)
}

// brokenWire is a SimpleRequest whose response_size (field 2) decodes and
// whose next field claims 5 bytes and has 1.
func brokenWire() []byte {
	b := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 5)
	return append(protowire.AppendTag(b, 7, protowire.BytesType), 5, 'x')
}

// TestMalformedRequestIsTheClientsError: grpc-go used to answer a payload
// that does not unmarshal as Internal, before any interceptor, so the
// client's garbage was logged and counted as the server's failure. It is
// InvalidArgument MALFORMED_MESSAGE with ErrorInfo, reported once as the
// client's error, and no handler sees the message.
func TestMalformedRequestIsTheClientsError(t *testing.T) {
	f := start(t)
	for name, wire := range map[string][]byte{"invalid UTF-8": badUTF8(), "broken wire encoding": brokenWire()} {
		t.Run(name, func(t *testing.T) {
			f.logs.Reset()
			before := grpcCount(f, "InvalidArgument")
			var reply []byte
			err := f.conn.Invoke(context.Background(), "/"+unaryCall, wire, &reply, grpc.ForceCodec(rawCodec{}))
			kittest.WantStatus(t, err, codes.InvalidArgument, grpcx.ReasonMalformedMessage)
			lines := failureLines(t, f)
			if len(lines) != 1 || lines[0]["method"] != unaryCall || lines[0]["err_reason"] != grpcx.ReasonMalformedMessage {
				t.Fatalf("logged as %v, want one line for %s with reason %s", lines, unaryCall, grpcx.ReasonMalformedMessage)
			}
			if n := grpcCount(f, "InvalidArgument") - before; n != 1 {
				t.Fatalf("counted %v times as InvalidArgument, want 1", n)
			}
			if n := grpcCount(f, "Internal"); n != 0 {
				t.Fatalf("counted %v times as Internal", n)
			}
		})
	}

	// A streamed request comes through RecvMsg: the same answer.
	t.Run("server stream", func(t *testing.T) {
		stream, err := f.conn.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true},
			"/grpc.testing.TestService/StreamingOutputCall", grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		// response_parameters (field 2) with a truncated body.
		if err := stream.SendMsg(append(protowire.AppendTag(nil, 2, protowire.BytesType), 9, 1)); err != nil {
			t.Fatal(err)
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var reply []byte
		kittest.WantStatus(t, stream.RecvMsg(&reply), codes.InvalidArgument, grpcx.ReasonMalformedMessage)
	})
}

// TestServerCodecLeavesNothingHalfDecoded: a message that failed to
// decode is empty but for the failure's record, so even a handler that
// skipped the checks would see no field of it.
func TestServerCodecLeavesNothingHalfDecoded(t *testing.T) {
	var m testpb.SimpleRequest
	if err := grpcx.ServerUnmarshal(brokenWire(), &m); err != nil {
		t.Fatalf("Unmarshal: %v, want the failure recorded on the message", err)
	}
	if m.GetResponseSize() != 0 || m.GetResponseStatus() != nil {
		t.Fatalf("half-decoded message: %v", &m)
	}
	e := kittest.WantErr(t, grpcx.CheckRequest(&m), errs.InvalidArgument, grpcx.ReasonMalformedMessage)
	if e.Message == "" {
		t.Fatal("no message says why")
	}

	// Reused for a good message, the record goes.
	good := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 5)
	if err := grpcx.ServerUnmarshal(good, &m); err != nil || m.GetResponseSize() != 5 {
		t.Fatalf("good message: %v, %v", err, &m)
	}
	if err := grpcx.CheckRequest(&m); err != nil {
		t.Fatalf("good message refused: %v", err)
	}

	// Unknown fields from a newer client are not mistaken for the record.
	newer := protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1)
	if err := grpcx.ServerUnmarshal(newer, &m); err != nil {
		t.Fatal(err)
	}
	if err := grpcx.CheckRequest(&m); err != nil {
		t.Fatalf("unknown field refused: %v", err)
	}
}

func TestCheckRequestDoesNotAllocateOnCleanMessages(t *testing.T) {
	m := &testpb.SimpleRequest{ResponseSize: 3, FillUsername: true, ResponseStatus: &testpb.EchoStatus{Code: 1, Message: "3f2b8c1e-9a4d-4c3b-8f1e-2d6a7b9c0e15"}}
	if n := testing.AllocsPerRun(100, func() { _ = grpcx.CheckRequest(m) }); n != 0 {
		t.Fatalf("%v allocations per clean message", n)
	}
}
