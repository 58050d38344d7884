package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
)

// banner tells the user where everything answers and how to call it:
// https and curl --cacert by default, plain http under -insecure.
func banner(w io.Writer, ps []process, sec *security, skipped []string) {
	if sec.on() {
		fmt.Fprintf(w, "launcher: all started with mTLS (development CA %s). Ctrl-C stops.\n", sec.caFile)
	} else {
		fmt.Fprintln(w, "launcher: all started WITHOUT TLS (-insecure): internal gRPC methods trust any caller, gRPC listens on loopback only. Ctrl-C stops.")
	}
	for _, p := range ps {
		line := fmt.Sprintf("  %-9s %s://%s", p.name, sec.scheme(), localhost(p.httpAddr))
		if p.name == "registry" {
			line += "/v1/services"
		}
		if p.grpcAddr != "" {
			line += fmt.Sprintf("   gRPC %s", localhost(p.grpcAddr))
		}
		fmt.Fprintln(w, line)
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "  not built yet, skipped: %v\n", skipped)
	}
	if !sec.on() {
		fmt.Fprintln(w, "  try: curl -s http://localhost:8090/v1/services")
		return
	}
	dir := filepath.Dir(sec.caFile)
	fmt.Fprintf(w, "  try: curl -s --cacert %s https://localhost:8090/v1/services\n", sec.caFile)
	fmt.Fprintf(w, "  gRPC: grpcurl -cacert %s localhost:9081 list   (internal methods also need an allowed caller's certificate: -cert %s -key %s)\n",
		sec.caFile, filepath.Join(dir, "orders.pem"), filepath.Join(dir, "orders-key.pem"))
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
