package main

import (
	"fmt"
	"go/build"
	"slices"
	"strings"
)

// process is one program the launcher runs.
type process struct {
	name     string
	httpAddr string
	grpcAddr string
}

// processes in start order: the registry first, so services register at
// once instead of retrying; then the services others call before their
// callers (orders calls users, products and payments; the gateway calls
// everyone). Shutdown goes in reverse, so callers stop before callees and
// everyone deregisters while the registry still runs.
var processes = []process{
	{"registry", "127.0.0.1:8090", ""},
	{"users", ":8081", ":9081"},
	{"products", ":8082", ":9082"},
	{"payments", ":8084", ":9084"},
	{"orders", ":8083", ":9083"},
	{"gateway", ":8080", ""},
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

// selectProcesses returns the processes to run, in start order: those
// named in only (comma-separated; empty means all) that are commands
// today, plus the names skipped for not being built yet. A name that is
// no kitshop process is an error, not silently nothing.
func selectProcesses(only string, isCommand func(dir string) bool) (run []process, skipped []string, err error) {
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			if !slices.Contains(names(processes), n) {
				return nil, nil, fmt.Errorf("-only: unknown process %q (known: %s)", n, strings.Join(names(processes), ", "))
			}
			want[n] = true
		}
	}
	for _, p := range processes {
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
