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
// Every call gets one log line from the server (msg "request": method,
// gRPC code, duration, trace and request ids, the error on failure; see
// logCall), whether it failed in the endpoint chain, before it (a decode
// refusing the request, an interceptor, a request grpc-go cannot
// unmarshal) or in a stream; successes at debug. The endpoint chain
// (kit/mw.Chain) writes no line of its own for a call served here.
// Unary RPCs are measured and traced by the chain; what fails outside a
// chain is counted here instead, under transport "grpc", so every failed
// call is counted exactly once. go-kit has no streaming support, so the
// stream interceptors here do the metrics for streaming RPCs, with
// transport "grpc-stream"; spans for both kinds come from the server's
// Zipkin stats handler and, on the calling side, from Dial's innermost
// interceptors (see tracestats.go).
//
// Every request is held to kitshop's edge rules before a handler sees it:
// a payload that decodes (else InvalidArgument MALFORMED_MESSAGE, never
// Internal; see serverCodec), no control characters in any string field (CheckText), a deadline on
// every unary call, a bounded number of streams per connection, and a
// handshake timeout for new connections.
package grpcx
