//go:build !unix

package main

import (
	"os/exec"
	"time"
)

// killGroupOnCancel: without process groups, only the command itself is
// killed when its context ends.
func killGroupOnCancel(cmd *exec.Cmd) { cmd.WaitDelay = 10 * time.Second }
