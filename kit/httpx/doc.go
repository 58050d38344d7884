// Package httpx is kitshop's HTTP transport toolkit: strict JSON request
// decoding, RFC 9457 problem+json errors, a gorilla/mux router whose 404 and
// 405 answers are problems too, request-id/recover/access-log middleware,
// generic go-kit handler glue, the platform endpoints every process serves
// (/health/live, /health/ready, /metrics) and an http.Server with sane
// timeouts.
//
// Every error a client sees goes through WriteProblem, so the kind and the
// stable reason code of a kit/errs error reach the client unchanged, and no
// cause (SQL, hosts, stack traces) ever does. The answers to a bad JSON
// body (OpenJSONBody, JSONError, UnknownField, BadJSONValue, ...) are
// exported so that kit/rest's codec, which reads bodies by proto
// descriptor instead of into Go structs, fails exactly as DecodeJSON does.
//
// Edge rules every request meets: no control characters in body strings,
// path variables or query parameters (kit/netx.TextViolation); a query
// string that parses; a deadline (DefaultTimeout for Handler's endpoints,
// MaxRequestTimeout for any route of NewRouter), answered 504 when the
// work runs out of it; paths matched as sent, never redirected.
//
// What net/http answers itself, before any handler runs, stays plain
// text: malformed request lines and header lines, headers over
// MaxHeaderBytes (431), an unparsable request target, a missing Host,
// unsupported Transfer-Encoding or Expect. No hook exists for those.
package httpx
