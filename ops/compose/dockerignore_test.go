package compose

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

func dockerignoreMatcher(t *testing.T) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(dockerignore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// ignored reports whether Docker leaves path (relative to the repository
// root, slash-separated) out of the build context.
func ignored(t *testing.T, pm *patternmatcher.PatternMatcher, path string) bool {
	t.Helper()
	m, err := pm.MatchesOrParentMatches(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The build context, an allow-list, holds every file the Dockerfile's go
// build compiles or embeds (for linux, without cgo, as in the image), as
// `go list` resolves them, and leaves out tests and everything else.
func TestDockerignoreLetsTheBuildThrough(t *testing.T) {
	pm := dockerignoreMatcher(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command to list the build's files")
	}
	const tmpl = `{{if .Module}}{{if eq .Module.Path "github.com/kitshop/kitshop"}}` +
		`{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
		`{{range .CgoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .SFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, append([]string{"list", "-deps", "-f", tmpl}, buildPackages(t)...)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		rel, err := filepath.Rel(root, line)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("%s is outside the repository", line)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	if len(files) < 50 {
		t.Fatalf("go list found only %d files; the template is wrong", len(files))
	}
	for _, f := range files {
		if ignored(t, pm, f) {
			t.Errorf("%s is compiled into an image but left out of the build context by .dockerignore", f)
		}
	}
	for _, f := range []string{"users/service_test.go", "kit/tlsx/devca_test.go", "README.md", "Makefile",
		".git/HEAD", "ops/compose.yaml", "ops/compose/compose_test.go", "ops/k8s/base/kustomization.yaml",
		".run/tls/ca-key.pem", "ops/compose.env", "ops/grafana/dashboards/kitshop.json", "users/testdata/x.json"} {
		if !ignored(t, pm, f) {
			t.Errorf("%s is in the build context", f)
		}
	}
}
