package pgtest

import "syscall"

// serverProcAttr runs postgres as cred (nil: as this process) in its own
// process group, so a terminal's ^C reaches the test binary, which decides.
func serverProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true,
		// If the test binary dies without running Main's cleanup (crash,
		// timeout, a package without TestMain), the kernel sends SIGQUIT,
		// postgres's immediate shutdown. The signal is tied to the OS
		// thread that forked; Go retires only threads that a goroutine
		// locked and abandoned, which the forking thread is not, so in
		// practice it fires when the process exits. Go sets it after
		// switching credentials, which would otherwise clear it.
		Pdeathsig: syscall.SIGQUIT,
	}
}
