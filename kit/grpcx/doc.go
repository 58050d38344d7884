// Package grpcx is kitshop's gRPC plumbing: a server with health, reflection,
// tracing, recovery and error conversion already wired (NewServer), a client
// connection with the matching client side (Dial), and generic go-kit glue so
// a pb adapter is one line per method (NewHandler, ClientEndpoint).
//
// Errors: endpoints and stream handlers return plain kit/errs domain errors;
// the server interceptors turn them into a status with google.rpc.ErrorInfo
// (errs.ToGRPC) and the client interceptors turn that back into an
// *errs.Error (errs.FromGRPC), so kind and reason survive the hop.
//
// Unary RPCs are logged, measured and traced by the go-kit endpoint chain
// (kit/mw.Chain). What fails outside a chain (a decode refusing the
// request, an interceptor, a request grpc-go cannot unmarshal, a handler
// without go-kit) is logged and counted here instead, under transport
// "grpc", so every failed call is reported exactly once. go-kit has no
// streaming support, so the stream interceptors here do the same logging
// and metrics for streaming RPCs, with transport "grpc-stream"; spans for
// both kinds come from the server's Zipkin stats handler and, on the
// calling side, from Dial's innermost interceptors (see tracestats.go).
//
// Every request is held to kitshop's edge rules before a handler sees it:
// a payload that decodes (else InvalidArgument MALFORMED_MESSAGE, never
// Internal; see serverCodec), no control characters in any string field (CheckText), a deadline on
// every unary call, a bounded number of streams per connection, and a
// handshake timeout for new connections.
package grpcx
