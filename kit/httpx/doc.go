// Package httpx is kitshop's HTTP transport toolkit: strict JSON request
// decoding, RFC 9457 problem+json errors, a gorilla/mux router whose 404 and
// 405 answers are problems too, request-id/recover/access-log middleware,
// generic go-kit handler glue, the platform endpoints every process serves
// (/health/live, /health/ready, /metrics) and an http.Server with sane
// timeouts.
//
// Every error a client sees goes through WriteProblem, so the kind and the
// stable reason code of a kit/errs error reach the client unchanged, and no
// cause (SQL, hosts, stack traces) ever does.
package httpx
