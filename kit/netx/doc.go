// Package netx is what kitshop's two transports (kit/httpx and kit/grpcx)
// share at the network edge, so each rule exists once:
//
//   - which text a client may send (TextViolation): no C0 or C1 control
//     characters, no DEL, valid UTF-8. Postgres refuses NUL bytes, logs and
//     terminals misread the others, and a refusal here is a 400 naming the
//     field instead of a 500 from deep inside the store;
//   - how many connections one listener holds at once (Limit), so that a
//     flood of idle connections is shed at the door instead of exhausting
//     file descriptors and freezing every other client;
//   - how a request that ran out of time or was abandoned reports its
//     failure (ContextError): as the caller's cancellation or deadline, not
//     as an infrastructure failure of this server.
package netx
