// Package rest maps API.md's HTTP/JSON routes onto unary gRPC methods,
// driven by the pb descriptors, so that each service writes its JSON
// shapes exactly once: in its client package, used both by the service's
// own HTTP transport (over the in-process pb server) and by the gateway
// (over a remote client). It is grpc-gateway's in-process handler idea
// (RegisterXHandlerServer vs RegisterXHandlerClient) without code
// generation and with kitshop's JSON rules.
//
// # JSON rules
//
// A member is the proto field of the same name, matched exactly
// (snake_case; "EMAIL" and the camelCase json_name are unknown members).
// Decoding is as strict as httpx.DecodeJSON and fails the same way:
// Content-Type other than application/json is 415, a body over 1 MiB 413,
// and malformed JSON, a wrong type, an unknown or duplicate member, or
// trailing data are 400 with a field violation naming the path
// ("items[0].quantity"). Values:
//   - integers of every width are JSON numbers, refused when fractional,
//     written with an exponent, or out of range;
//   - enums are their value names without the type prefix
//     (PAYMENT_STATUS_CAPTURED is "CAPTURED"); other names are refused;
//   - google.protobuf.Timestamp is RFC 3339 (written in UTC), Duration is
//     "1.5s"; other well-known types are refused when a route is built;
//   - null leaves a field unset: an optional scalar stays absent, a
//     message nil. A hook can still tell null from absence (Members);
//   - responses write every field in declaration order: unset messages,
//     optional scalars and oneof members as null, empty repeated fields
//     as [], empty maps as {}. Nothing is HTML-escaped.
//
// # Deadlines
//
// Every Call runs under a deadline, as httpx.Handler's endpoints do:
// httpx.DefaultTimeout (30 s) unless the Spec sets Timeout. A call that
// fails once its deadline has passed is answered 504 DEADLINE_EXCEEDED,
// and one whose client went away 499, whatever error the work in
// progress made of it (netx.ContextError), so a frozen database gives a
// 504 problem instead of an empty reply at the server's write timeout.
// The gateway's remote calls carry the same deadline downstream.
//
// Tables of fields are built once per message type, so a request costs a
// tokenizer pass and protoreflect gets and sets, nothing more.
//
// # Adopting it in a service (products, payments)
//
//  1. In <service>/client/rest.go declare the API interface: the pb
//     methods the routes call, in the server's shape
//     (func(ctx, *pb.XRequest) (*pb.XResponse, error)), so the service's
//     pb server satisfies it unchanged. Add RemoteAPI, a few lines that
//     adapt a pb XServiceClient for the gateway.
//  2. Write Routes(api) []rest.Route, one rest.Unary(rest.Spec{...}) per
//     row of API.md (see Spec's fields), and RegisterHTTP(router, api)
//     calling rest.Mount. List a literal path before a template that
//     also matches it (/users/me before /users/{id}).
//  3. In the service's transport_http.go: r := httpx.NewRouter(), then
//     client.RegisterHTTP(r, NewGRPCServer(endpoints)), then any routes
//     that are not pb methods, and wrap r with the verifier. Delete the
//     hand-written decoders and the domain types' JSON tags and
//     MarshalJSON methods.
//  4. In <service>/client's tests, state the allow-lists and let
//     resttest.CheckCoverage(t, rest.Coverage{...}) hold the mapping to
//     them: every pb method routed or internal, every field of the routed
//     messages reached or hidden, each exception with its reason
//     (users/client/rest_test.go is the model). Add ContractCases and
//     RunContract (kit/rest/contract), and a service test running them
//     against the service's HTTP port (users/contract_test.go).
//
// What services reach for in a Spec: Query for search filters and
// page_size/page_token; Headers for Idempotency-Key; Required for members
// whose zero value could pass for a real one (price_cents, delta); Status
// 201 with Location for creates; Guard for an admin check before the body
// is read; Respond for headers and statuses that depend on the response
// (202 while an order is PENDING, Idempotent-Replayed); Hook and HookFills
// for the odd case (Prefers turns "Prefer: respond-async" into a field).
//
// Orders needed four more, each for an answer that is more than one
// message: BodyField, when the API's body is one field of the response
// (CreateOrderResponse's order; its replayed flag becomes a header in
// Respond); Metadata, for gRPC response headers that become HTTP headers
// on success and failure alike (idempotent-replayed; ForwardMetadata is
// the remote API's half); ErrorDetails, for the messages an error carries
// (errs.Error.Details) rendered as problem members (the order a 402
// leaves); and Rename, for a member of a shared message that API.md
// spells otherwise (common.v1.Card's number is the order's
// payment.card_number).
//
// Where the pb message and API.md disagree, change the proto (a field's
// name or its optional presence) rather than adding mapping code: the
// proto is the contract both transports share. Pagination: map page_size
// and page_token as query parameters and let the service apply kit/page's
// size rules, as it does for gRPC.
//
// Adding a field afterwards takes the proto, the domain type, the store
// and its migration: the mapping picks it up, and the coverage test
// (Coverage, built on Gaps) fails if it cannot.
package rest
