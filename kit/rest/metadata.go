package rest

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// headerStream is the grpc.ServerTransportStream of one HTTP request whose
// route forwards response metadata (Spec.Metadata): it keeps the header
// metadata Call sets, with grpc.SetHeader in the in-process pb server or
// through ForwardMetadata in a remote API. Once the HTTP headers are
// written, setting more fails, as on a gRPC stream whose headers went.
type headerStream struct {
	mu     sync.Mutex
	header metadata.MD
	sent   bool
}

// Method is empty: the route knows its messages, not the RPC's name, and
// nothing on the in-process path asks for it (interceptors do not run
// there).
func (s *headerStream) Method() string { return "" }

func (s *headerStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return errHeadersSent
	}
	s.header = metadata.Join(s.header, md)
	return nil
}

// SendHeader only sets: the HTTP headers go out with the response.
func (s *headerStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

// SetTrailer accepts and drops trailers: nothing in API.md comes from
// one, and HTTP/1.1 responses have none worth sending.
func (s *headerStream) SetTrailer(metadata.MD) error { return nil }

var errHeadersSent = errors.New("rest: response headers already written")

// writeTo sets on h the HTTP header of every forwarded key the call set
// (its last value), once. A nil stream (the route forwards nothing)
// writes nothing.
func (s *headerStream) writeTo(h http.Header, forwarded map[string]string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = true
	for key, name := range forwarded {
		if v := s.header.Get(key); len(v) > 0 {
			h.Set(name, v[len(v)-1])
		}
	}
}

// ForwardMetadata sets the keys of md, a remote call's response header
// (collected with grpc.Header), on ctx's server transport stream, where a
// route with Spec.Metadata reads them: a remote API's way of answering as
// the in-process pb server does. Without a stream in ctx, or without the
// keys in md, it does nothing. It reports nothing either: the call is
// done, and a header that cannot be set any more is not worth failing it
// for.
func ForwardMetadata(ctx context.Context, md metadata.MD, keys ...string) {
	if grpc.ServerTransportStreamFromContext(ctx) == nil {
		return
	}
	out := metadata.MD{}
	for _, k := range keys {
		if v := md.Get(k); len(v) > 0 {
			out.Set(k, v...)
		}
	}
	if len(out) > 0 {
		_ = grpc.SetHeader(ctx, out)
	}
}
