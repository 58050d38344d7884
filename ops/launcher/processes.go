package main

import (
	"fmt"
	"go/build"
	"slices"
	"strings"
)

// process is one program the launcher runs, with its default addresses
// (shifted by -port-offset before use).
type process struct {
	name     string
	httpAddr string
	// grpcAddr is empty for processes without a gRPC server.
	grpcAddr string
	// etcdAddr and peerAddr are the registry's embedded etcd listeners,
	// client and peer; empty for everyone else.
	etcdAddr, peerAddr string
}

// processes in start order: the registry first, so services register at
// once instead of retrying; then the services others call before their
// callers (orders calls users, products and payments; the gateway calls
// everyone). Shutdown goes in reverse, so callers stop before callees and
// everyone deregisters while the registry still runs.
//
// The addresses are the defaults of ARCHITECTURE.md's table (the
// registry's etcd ones are its -etcd-addr and -peer-addr defaults).
var processes = []process{
	{name: "registry", httpAddr: "127.0.0.1:8090", etcdAddr: "127.0.0.1:2379", peerAddr: "127.0.0.1:2380"},
	{name: "users", httpAddr: ":8081", grpcAddr: ":9081"},
	{name: "products", httpAddr: ":8082", grpcAddr: ":9082"},
	{name: "payments", httpAddr: ":8084", grpcAddr: ":9084"},
	{name: "orders", httpAddr: ":8083", grpcAddr: ":9083"},
	{name: "gateway", httpAddr: ":8080"},
}

// find returns the process called name in ps.
func find(ps []process, name string) (process, bool) {
	for _, p := range ps {
		if p.name == name {
			return p, true
		}
	}
	return process{}, false
}

func names(ps []process) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.name)
	}
	return out
}

// isCommand reports whether ./dir holds a main package. A service not
// built yet is a folder with only a doc.go of another package name (see
// gateway/), and the launcher skips it rather than fail the build, so
// `make run` keeps working while the platform grows.
func isCommand(dir string) bool {
	pkg, err := build.ImportDir(dir, 0)
	return err == nil && pkg.Name == "main"
}

// selectProcesses returns the processes of all to run, in start order:
// those named in only (comma-separated; empty means all) that are
// commands today, plus the names skipped for not being built yet. A name
// that is no kitshop process is an error, not silently nothing.
func selectProcesses(all []process, only string, isCommand func(dir string) bool) (run []process, skipped []string, err error) {
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			if !slices.Contains(names(all), n) {
				return nil, nil, fmt.Errorf("-only: unknown process %q (known: %s)", n, strings.Join(names(all), ", "))
			}
			want[n] = true
		}
	}
	for _, p := range all {
		if len(want) > 0 && !want[p.name] {
			continue
		}
		if !isCommand(p.name) {
			skipped = append(skipped, p.name)
			continue
		}
		run = append(run, p)
	}
	return run, skipped, nil
}
