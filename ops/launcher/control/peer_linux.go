package control

import (
	"errors"
	"fmt"
	"net"
	"os"

	"syscall"
)

// checkPeer refuses a client running as another user. The socket's mode
// already says so; this also holds when the socket sits in a directory a
// umask left open, or was chmod-ed by hand.
func checkPeer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil // tests over other transports
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("reading the peer's credentials: %w", credErr)
	}
	if int(cred.Uid) != os.Getuid() {
		return errors.New("permission denied: only the user who runs the launcher may use its control socket")
	}
	return nil
}
