package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// lookupTimeout bounds the name resolution the guard needs.
const lookupTimeout = 2 * time.Second

// resolver is what the guard needs from net.Resolver; tests substitute it.
type resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// checkLocal refuses a target that is not on this machine unless the
// user said -allow-remote: a load generator aimed at someone else's host
// by a typo is an attack. "On this machine" means loopback: a literal
// loopback address, "localhost" (RFC 6761 keeps it local), or a name
// every address of which is loopback.
func checkLocal(ctx context.Context, r resolver, host string, allowRemote bool) error {
	if allowRemote {
		return nil
	}
	local, err := isLoopback(ctx, r, host)
	if err != nil {
		return fmt.Errorf("cannot tell whether %q is this machine: %w (pass -allow-remote to aim elsewhere)", host, err)
	}
	if !local {
		return fmt.Errorf("%q is not a loopback address: loadgen only targets this machine unless -allow-remote is given", host)
	}
	return nil
}

func isLoopback(ctx context.Context, r resolver, host string) (bool, error) {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return false, fmt.Errorf("empty host")
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback(), nil
	}
	lower := strings.ToLower(host)
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return false, nil
		}
	}
	return len(addrs) > 0, nil
}
