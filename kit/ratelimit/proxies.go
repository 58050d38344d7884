package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes and
// plain addresses ("10.0.0.0/8, 192.0.2.7, fd00::/8"), such as
// KITSHOP_TRUSTED_PROXIES, into prefixes; an address is its own /32 or
// /128. Space around entries is ignored; an empty spec means no trusted
// proxies. Prefixes are normalised (host bits cleared), and IPv4-mapped
// IPv6 forms are read as IPv4, as peers are.
func ParseTrustedProxies(spec string) ([]netip.Prefix, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		p, err := parseProxyEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: entry %d (%q): %w", i+1, entry, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseProxyEntry(entry string) (netip.Prefix, error) {
	if entry == "" {
		return netip.Prefix{}, fmt.Errorf("empty entry")
	}
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("zones are not supported")
		}
		if a := p.Addr(); a.Is4In6() {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8.
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("an IPv4-mapped prefix needs at least 96 bits")
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(entry)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zones are not supported")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// proxies is the trusted-proxy list.
type proxies []netip.Prefix

func (ps proxies) trusted(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sourceAddr is the address a request comes from: its direct peer, or,
// when that peer is a trusted proxy, the first untrusted address in
// X-Forwarded-For walking from the right (the entries to the left of it
// were written by the client and prove nothing). The result is unmapped
// and zone-free; ok is false when even the peer's address is unreadable.
func (ps proxies) sourceAddr(r *http.Request) (addr netip.Addr, ok bool) {
	peer, ok := peerAddr(r.RemoteAddr)
	if !ok || len(ps) == 0 || !ps.trusted(peer) {
		return peer, ok
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return peer, true
	}
	// The last trusted hop seen so far: if every entry is trusted, the
	// leftmost one is the client (an internal caller behind our proxies).
	last := peer
	// Several X-Forwarded-For lines are one list, in order (RFC 9110 5.3).
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			var entry string
			if c := strings.LastIndexByte(line, ','); c >= 0 {
				entry, line = line[c+1:], line[:c]
			} else {
				entry, line = line, ""
			}
			a, ok := forwardedAddr(strings.TrimSpace(entry))
			if !ok {
				// A hop we cannot read breaks the chain: nothing to its
				// left can be attributed, so charge the peer rather than
				// guess.
				return peer, true
			}
			if !ps.trusted(a) {
				return a, true
			}
			last = a
		}
	}
	return last, true
}

// peerAddr reads http.Request.RemoteAddr, "ip:port" from net/http but a
// bare address from some test harnesses and listeners.
func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return normalise(ap.Addr()), true
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return normalise(a), true
	}
	return netip.Addr{}, false
}

// forwardedAddr reads one X-Forwarded-For entry: an address, or, as some
// proxies write it, an address with a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711").
func forwardedAddr(entry string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(entry); err == nil {
		return normalise(a), true
	}
	if ap, err := netip.ParseAddrPort(entry); err == nil {
		return normalise(ap.Addr()), true
	}
	return netip.Addr{}, false
}

// normalise makes one address one client: ::ffff:192.0.2.1 is 192.0.2.1,
// and an IPv6 zone (a local interface name) is not part of the identity.
func normalise(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
