//go:build unix && !linux

package pgtest

import "syscall"

// serverProcAttr runs postgres as cred (nil: as this process) in its own
// process group. Without Linux's parent-death signal, a test binary that
// dies without running Main leaves the server running; stop it with
// pg_ctl stop -D <dir>/data -m immediate (dirs are $TMPDIR/kitshop-pgtest-*).
func serverProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
