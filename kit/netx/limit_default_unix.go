//go:build unix

package netx

import "syscall"

// openFileLimit is the soft RLIMIT_NOFILE (which Go raises to the hard
// limit at start-up), or 0 when unknown.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}
