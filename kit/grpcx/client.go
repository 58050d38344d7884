package grpcx

import (
	"context"
	"errors"
	"io"

	"github.com/openzipkin/zipkin-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/errs"
)

// ClientConfig is what Dial wires in. A nil Tracer leaves out client spans
// and B3 propagation.
type ClientConfig struct {
	Tracer *zipkin.Tracer
}

// Dial returns a client connection to target (any grpc.NewClient target,
// e.g. "127.0.0.1:9081"). It does not connect until the first call.
//
// The connection uses plaintext: kitshop's processes trust their network,
// and transport security (mTLS through a service mesh or sidecar) is a
// deployment concern. Pass grpc.WithTransportCredentials in opts to
// override. The connection also gets keepalive pings, Zipkin client spans
// with B3 propagation, request-id propagation, and interceptors that
// rebuild domain errors from statuses (errs.FromGRPC), so a caller sees
// the same kind and reason the callee returned. opts' interceptors run
// inside the error conversion and outside the tracing.
func Dial(target string, cfg ClientConfig, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	calls := newClientCalls(cfg.Tracer)
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                clientPingEvery,
			Timeout:             clientPingTimeout,
			PermitWithoutStream: true,
		}),
		grpc.WithChainUnaryInterceptor(unaryClient),
		grpc.WithChainStreamInterceptor(streamClient),
	}, opts...)
	// Innermost, after the caller's interceptors: see clientCalls.
	all = append(all, grpc.WithChainUnaryInterceptor(calls.unary), grpc.WithChainStreamInterceptor(calls.stream))
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, errs.ReasonInternal, err, "invalid gRPC target")
	}
	return conn, nil
}

// unaryClient and streamClient, outermost, turn statuses back into domain
// errors.
func unaryClient(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return errs.FromGRPC(invoker(ctx, method, req, reply, cc, opts...))
}

func streamClient(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, errs.FromGRPC(err)
	}
	return &errClientStream{ClientStream: cs}, nil
}

// errClientStream converts a stream's status errors to domain errors. io.EOF
// is the normal end of a stream and must reach the caller unchanged.
type errClientStream struct {
	grpc.ClientStream
}

func convert(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	return errs.FromGRPC(err)
}

func (s *errClientStream) SendMsg(m any) error { return convert(s.ClientStream.SendMsg(m)) }
func (s *errClientStream) RecvMsg(m any) error { return convert(s.ClientStream.RecvMsg(m)) }
func (s *errClientStream) CloseSend() error    { return convert(s.ClientStream.CloseSend()) }
func (s *errClientStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	return md, convert(err)
}
