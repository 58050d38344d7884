package ci

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// services are the programs with their own pipeline: each has a folder, a
// Dockerfile target and a caller workflow <name>.yml of the same name.
var services = []string{"users", "products", "orders", "payments", "gateway", "registry"}

// reusable is the shared per-service pipeline every caller must use.
const reusable = "./.github/workflows/service.yml"

// repoRoot is the platform's checkout: this package sits at ops/ci.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(mod, []byte("module github.com/kitshop/kitshop\n")) {
		t.Fatalf("%s is not the kitshop checkout (go.mod: %v)", root, err)
	}
	return root
}

// workflowFiles lists every workflow file, the way GitHub finds them.
func workflowFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, ext := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, ".github", "workflows", ext))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no workflow in %s/.github/workflows", root)
	}
	sort.Strings(files)
	return files
}

// workflows parses every workflow file, keyed by its name without the
// extension (users, service, platform, ...).
func workflows(t *testing.T) map[string]*actionlint.Workflow {
	t.Helper()
	out := map[string]*actionlint.Workflow{}
	for _, f := range workflowFiles(t, repoRoot(t)) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, errs := actionlint.Parse(src)
		for _, e := range errs {
			t.Errorf("%s: %s", f, e.Error())
		}
		if w == nil {
			t.FailNow()
		}
		out[strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))] = w
	}
	return out
}

// newLinter runs shellcheck and pyflakes over run: scripts when they are
// installed (actionlint runs them as external commands); without them the
// rest of actionlint's checks still apply.
// It reports whether shellcheck is used.
func newLinter(t *testing.T, root string, out *bytes.Buffer) (*actionlint.Linter, bool) {
	t.Helper()
	opts := &actionlint.LinterOptions{Color: actionlint.ColorOptionKindNever, WorkingDir: root}
	for _, tool := range []struct {
		name string
		set  *string
	}{{"shellcheck", &opts.Shellcheck}, {"pyflakes", &opts.Pyflakes}} {
		if p, err := exec.LookPath(tool.name); err == nil {
			*tool.set = p
		} else {
			t.Logf("%s is not on PATH: actionlint skips the checks it would run", tool.name)
		}
	}
	l, err := actionlint.NewLinter(out, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l, opts.Shellcheck != ""
}

// project is the repository as actionlint sees it, given explicitly so the
// check works in a checkout without .git (an archive) too: local reusable
// workflows (uses: ./.github/workflows/...) are resolved against it.
func project(t *testing.T, root string) *actionlint.Project {
	t.Helper()
	p, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestActionlint(t *testing.T) {
	root := repoRoot(t)
	files := workflowFiles(t, root)
	var out bytes.Buffer
	l, _ := newLinter(t, root, &out)
	errs, err := l.LintFiles(files, project(t, root))
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Fatalf("actionlint found %d problem(s) in %d workflow file(s):\n%s", len(errs), len(files), out.String())
	}
	t.Logf("actionlint: %d workflow files clean", len(files))
}

// The linter as configured must catch real mistakes, or a clean run above
// would prove nothing.
func TestActionlintCatchesMistakes(t *testing.T) {
	root := repoRoot(t)
	bad := []byte(`name: bad
on: push
jobs:
  build:
    timeout-minutes: 5
    steps:
      - uses: actions/checkout@v4
        with:
          no-such-input: true
      - run: echo $HOME
        if: ${{ github.events_name == 'push' }}
  call:
    uses: ./.github/workflows/service.yml
    with:
      servce: users
`)
	var out bytes.Buffer
	l, shellcheck := newLinter(t, root, &out)
	errs, err := l.Lint("bad.yml", bad, project(t, root))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, e := range errs {
		kinds[e.Kind] = true
	}
	// runs-on missing (syntax-check), an unknown action input (action), an
	// unknown context property (expression), a misspelt input of this
	// repository's reusable workflow (workflow-call: proves local workflows
	// are resolved), an unquoted expansion (shellcheck, when installed).
	want := []string{"syntax-check", "action", "expression", "workflow-call"}
	if shellcheck {
		want = append(want, "shellcheck")
	}
	for _, k := range want {
		if !kinds[k] {
			t.Errorf("actionlint did not report a %q error; it reported:\n%s", k, out.String())
		}
	}
}
