// Package gateway is coming (issue: the API gateway). It will become
// `go run ./gateway`: the HTTP/JSON entry point on :8080 that authenticates
// JWTs, rate-limits per client across instances, discovers the services
// through etcd and calls them over gRPC behind circuit breakers. Nothing is
// implemented yet: until then each service serves its part of the HTTP API
// on its own port.
package gateway
