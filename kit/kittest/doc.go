// Package kittest holds the test helpers kitshop's packages share: a
// log sink that decodes JSON lines, an in-memory zipkin reporter, gRPC
// status and domain-error assertions, an HTTP client for handler tests,
// polling, goroutine-leak and free-port helpers, and a settable clock.
//
// It is imported only from _test.go files. It knows the kit's contracts
// (JSON log lines, google.rpc.ErrorInfo in the kitshop domain, RFC 9457
// problem bodies) but nothing about any service, so it must never import
// a service package, and kit packages whose own internal tests use it
// must not be imported here (that would be an import cycle).
package kittest
