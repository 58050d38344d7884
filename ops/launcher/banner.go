package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
)

// banner tells the user, once everything is up, where to go and how to
// call it: https and curl --cacert by default, plain http under
// -insecure. With the gateway running it leads with the gateway, the one
// public entry point, and a first curl through it; without it, with the
// registry view and each service's own port.
func banner(w io.Writer, ps []process, sec *security, skipped, notReady []string, offset int) {
	switch {
	case len(notReady) > 0:
		fmt.Fprintf(w, "launcher: started, but NOT READY: %v (see their logs). Ctrl-C stops.\n", notReady)
	case sec.on():
		fmt.Fprintf(w, "launcher: all started with mTLS (development CA %s). Ctrl-C stops.\n", sec.caFile)
	default:
		fmt.Fprintln(w, "launcher: all started WITHOUT TLS (-insecure): internal gRPC methods trust any caller, gRPC listens on loopback only. Ctrl-C stops.")
	}
	gateway, hasGateway := find(ps, "gateway")
	// The gateway first: it is where users go.
	ordered := slices.Clone(ps)
	slices.SortStableFunc(ordered, func(a, b process) int {
		return boolRank(b.name == "gateway") - boolRank(a.name == "gateway")
	})
	for _, p := range ordered {
		line := fmt.Sprintf("  %-9s %s", p.name, url(sec, p.httpAddr, ""))
		switch {
		case p.name == "gateway":
			line += "   the API: /api/v1/..."
		case p.name == "registry":
			line += "/v1/services   what is registered"
		case p.grpcAddr != "":
			line += fmt.Sprintf("   gRPC %s", localhost(p.grpcAddr))
		}
		fmt.Fprintln(w, line)
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "  not built yet, skipped: %v\n", skipped)
	}
	if offset != 0 {
		fmt.Fprintf(w, "  every port is shifted by %d (-port-offset): add it to the ports in the README's commands\n", offset)
	}
	if hasGateway {
		fmt.Fprintf(w, "  try: %s %s\n", curl(sec), url(sec, gateway.httpAddr, "/api/v1/products"))
		fmt.Fprintf(w, "  then the README's curl session (\"Trying it\": sign up, log in, search, order, fetch the order) through %s\n",
			url(sec, gateway.httpAddr, ""))
	} else if registry, ok := find(ps, "registry"); ok {
		fmt.Fprintf(w, "  try: %s %s\n", curl(sec), url(sec, registry.httpAddr, "/v1/services"))
	}
	if users, ok := find(ps, "users"); ok && sec.on() {
		dir := filepath.Dir(sec.caFile)
		fmt.Fprintf(w, "  gRPC: grpcurl -cacert %s %s list   (internal methods also need an allowed caller's certificate: -cert %s -key %s)\n",
			sec.caFile, localhost(users.grpcAddr), filepath.Join(dir, "orders.pem"), filepath.Join(dir, "orders-key.pem"))
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// url is how a user reaches path on addr.
func url(sec *security, addr, path string) string {
	return sec.scheme() + "://" + localhost(addr) + path
}

// curl is the curl command that trusts the platform's certificates.
func curl(sec *security) string {
	if sec.on() {
		return "curl -s --cacert " + sec.caFile
	}
	return "curl -s"
}

// localhost is addr as a user types it: ":8081" and "127.0.0.1:8081"
// become "localhost:8081", which the development certificates name.
func localhost(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort("localhost", port)
}
