//go:build !kitshop_crashpoints

package main

// crashPoint marks a place where a crash must not lose or duplicate money.
// In every normal build it does nothing and compiles away; only a binary
// built with the kitshop_crashpoints tag (crashpoint_enabled.go, used by
// the crash test) can stop there.
func crashPoint(string) {}
