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
	"github.com/kitshop/kitshop/kit/logx"
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
// override. The connection also gets keepalive pings, the Zipkin client
// stats handler, request-id propagation, and interceptors that rebuild
// domain errors from statuses (errs.FromGRPC), so a caller sees the same
// kind and reason the callee returned.
func Dial(target string, cfg ClientConfig, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                clientPingEvery,
			Timeout:             clientPingTimeout,
			PermitWithoutStream: true,
		}),
		grpc.WithChainUnaryInterceptor(unaryClient()),
		grpc.WithChainStreamInterceptor(streamClient()),
	}
	if cfg.Tracer != nil {
		base = append(base, grpc.WithStatsHandler(newClientTracing(cfg.Tracer)))
	}
	conn, err := grpc.NewClient(target, append(base, opts...)...)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, errs.ReasonInternal, err, "invalid gRPC target")
	}
	return conn, nil
}

func unaryClient() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return errs.FromGRPC(invoker(withOutgoingRequestID(ctx), method, req, reply, cc, opts...))
	}
}

func streamClient() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(withOutgoingRequestID(ctx), desc, cc, method, opts...)
		if err != nil {
			return nil, errs.FromGRPC(err)
		}
		return &errClientStream{ClientStream: cs}, nil
	}
}

// withOutgoingRequestID forwards ctx's request id unless the caller already
// set one in the outgoing metadata.
func withOutgoingRequestID(ctx context.Context) context.Context {
	id := logx.RequestID(ctx)
	if id == "" {
		return ctx
	}
	// One key, without copying the whole outgoing metadata.
	if len(metadata.ValueFromOutgoingContext(ctx, RequestIDMetadata)) > 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, RequestIDMetadata, id)
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
