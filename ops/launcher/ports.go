package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// listener is one address a process will listen on, named for messages.
type listener struct {
	what, addr string
}

// listeners are every address p listens on.
func (p process) listeners() []listener {
	out := []listener{{p.name + " HTTP", p.httpAddr}}
	if p.grpcAddr != "" {
		out = append(out, listener{p.name + " gRPC", p.grpcAddr})
	}
	if p.etcdAddr != "" {
		out = append(out, listener{p.name + " etcd client", p.etcdAddr}, listener{p.name + " etcd peer", p.peerAddr})
	}
	return out
}

// shiftPorts returns ps with every port moved up by offset, so a second
// platform (a test's, beside a developer's `make run`) gets its own
// ports. Addresses keep their host. The shifted ports must stay valid.
func shiftPorts(ps []process, offset int) ([]process, error) {
	out := make([]process, len(ps))
	for i, p := range ps {
		var err error
		shift := func(addr string) string {
			if addr == "" || err != nil {
				return addr
			}
			var s string
			s, err = shiftAddr(addr, offset)
			return s
		}
		p.httpAddr, p.grpcAddr, p.etcdAddr, p.peerAddr = shift(p.httpAddr), shift(p.grpcAddr), shift(p.etcdAddr), shift(p.peerAddr)
		if err != nil {
			return nil, fmt.Errorf("-port-offset %d: %s: %w", offset, p.name, err)
		}
		out[i] = p
	}
	return out, nil
}

func shiftAddr(addr string, offset int) (string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", fmt.Errorf("address %q: port is not a number", addr)
	}
	// Port 0 would mean "any free port", which peers could not be told.
	if shifted := port + offset; shifted > 0 && shifted <= 65535 {
		return net.JoinHostPort(host, strconv.Itoa(shifted)), nil
	}
	return "", fmt.Errorf("port %d shifted by %d is out of range 1-65535", port, offset)
}

// etcdEndpoint is where every process finds the registry: its etcd client
// address in ps.
func etcdEndpoint(ps []process) string {
	for _, p := range ps {
		if p.etcdAddr != "" {
			return p.etcdAddr
		}
	}
	return ""
}

// checkPortsFree fails, naming the first port in use, when any listener
// of ps cannot be bound now: typically a `make run` already up. Without
// this the clash surfaces as one child's bind error among interleaved
// logs, after the whole build.
func checkPortsFree(ps []process) error {
	var errs []error
	for _, p := range ps {
		for _, l := range p.listeners() {
			ln, err := net.Listen("tcp", l.addr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s port %s is in use", l.what, l.addr))
				continue
			}
			_ = ln.Close()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\n  is another `make run` up? stop it, or shift every port with -port-offset N (KITSHOP_LAUNCHER_PORT_OFFSET)", errors.Join(errs...))
	}
	return nil
}
