//go:build race

package kittest

// RaceEnabled reports whether this binary was built with -race, so that
// binaries a test builds match it (and share its build cache).
const RaceEnabled = true
