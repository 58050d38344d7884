// Package e2e holds tests that run the real kitshop binaries together, as
// an operator would: a registry and several instances of each service, over
// mTLS, with Postgres. It has no code of its own.
package e2e
