package main

import "syscall"

// sysProcAttr puts a child in its own process group, so a Ctrl-C in the
// terminal reaches only the launcher, which then stops the children in
// reverse order; the terminal's SIGINT would otherwise hit all of them at
// once and the registry could go before the services deregister. If the
// launcher itself dies, the kernel sends the child SIGTERM (Linux only)
// so no orphan keeps the ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
