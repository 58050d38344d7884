//go:build !kitshop_crashpoints

// Package crashpoint marks places where a crash must not lose or duplicate
// anything (money, stock, a saga's progress). In every normal build At
// does nothing and compiles away; only a binary built with the
// kitshop_crashpoints tag (enabled.go), which only crash tests build, can
// stop there.
package crashpoint

// At marks the crash point name.
func At(string) {}
