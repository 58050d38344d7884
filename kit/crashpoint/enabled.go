//go:build kitshop_crashpoints

package crashpoint

import (
	"fmt"
	"os"
	"time"
)

// This file exists only in binaries built with -tags kitshop_crashpoints,
// which only crash tests do: no flag, environment
// variable or configuration of a normal build can reach it.

// crashEnv names the crash point at which the process stops.
const crashEnv = "KITSHOP_TEST_CRASH_AT"

// crashHold bounds the stop: the test kills the process (SIGKILL) long
// before; should it not, the process exits rather than hang for ever.
const crashHold = 2 * time.Minute

func init() {
	fmt.Fprintf(os.Stderr, "WARNING: built with test crash points (kitshop_crashpoints); %s=%q\n", crashEnv, os.Getenv(crashEnv))
}

// At stops the calling request at name when KITSHOP_TEST_CRASH_AT
// names it: it announces the stop on stderr, for the test to see, and
// blocks until the test kills the process.
func At(name string) {
	if os.Getenv(crashEnv) != name {
		return
	}
	fmt.Fprintf(os.Stderr, "CRASHPOINT %s reached\n", name)
	time.Sleep(crashHold)
	os.Exit(3)
}
