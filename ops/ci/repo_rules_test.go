package ci

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rhysd/actionlint"
)

func TestEveryJobHasATimeout(t *testing.T) {
	all := workflows(t)
	known := map[string]bool{}
	for name := range all {
		known[name] = true
	}
	for name, w := range all {
		for _, p := range checkTimeouts(w, known) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

func TestActionsArePinned(t *testing.T) {
	for name, w := range workflows(t) {
		for _, p := range checkPinned(w) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

func TestConcurrencyGroups(t *testing.T) {
	for name, w := range workflows(t) {
		for _, p := range checkConcurrency(w) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

func TestPlatformWorkflowRunsCI(t *testing.T) {
	if _, err := os.Stat(filepath.Join(repoRoot(t), ".ci", "run")); err != nil {
		t.Fatalf("the platform workflow runs .ci/run: %v", err)
	}
	w := workflows(t)["platform"]
	if w == nil {
		t.Fatal("no .github/workflows/platform.yml")
	}
	for _, p := range checkPlatform(w) {
		t.Errorf("platform: %s", p)
	}
}

func TestServiceCallers(t *testing.T) {
	all := workflows(t)
	root := repoRoot(t)
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			w := all[svc]
			if w == nil {
				t.Fatalf("no .github/workflows/%s.yml", svc)
			}
			deps := localDeps(t, root, svc)
			if len(deps) == 0 {
				t.Fatalf("go list found no package of %s", svc)
			}
			for _, p := range checkCaller(w, svc, deps) {
				t.Errorf("%s.yml: %s", svc, p)
			}
		})
	}
}

// localDeps is every directory of this repository (relative, slash
// separated) holding a package that svc's packages or their tests import,
// svc's own included: a change to any of them must run svc's pipeline.
func localDeps(t *testing.T, root, svc string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./"+svc+"/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", svc, err, stderr)
	}
	var dirs []string
	for _, d := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, d)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue // the module cache
		}
		dirs = append(dirs, filepath.ToSlash(rel))
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

func TestReusableServicePipeline(t *testing.T) {
	w := workflows(t)["service"]
	if w == nil {
		t.Fatal("no .github/workflows/service.yml")
	}
	var call *actionlint.WorkflowCallEvent
	for _, e := range w.On {
		if c, ok := e.(*actionlint.WorkflowCallEvent); ok {
			call = c
		}
	}
	if call == nil || len(w.On) != 1 {
		t.Fatal("service.yml must be triggered by workflow_call only")
	}
	if !slices.ContainsFunc(call.Inputs, func(in *actionlint.WorkflowCallEventInput) bool {
		return in.ID == "service" && in.Required != nil && in.Required.Value
	}) {
		t.Error("workflow_call lacks the required input service")
	}
	for _, id := range []string{"lint", "test", "image"} {
		if w.Jobs[id] == nil {
			t.Errorf("no %s job", id)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	test := w.Jobs["test"]
	pg := test.Services.Value["postgres"]
	if pg == nil || pg.Container.Image.Value != "postgres:15" {
		t.Error("test: no postgres:15 service container")
	} else if o := pg.Container.Options; o == nil || !strings.Contains(o.Value, "--health-cmd") {
		t.Error("test: the postgres service has no health check, so steps could start before it accepts connections")
	}
	if test.Env == nil || test.Env.Vars["database_url"] == nil ||
		!strings.HasPrefix(test.Env.Vars["database_url"].Value.Value, "postgres://") {
		t.Error("test: DATABASE_URL does not point pgtest at the service container")
	}
	if !slices.ContainsFunc(test.Steps, func(s *actionlint.Step) bool {
		r, ok := s.Exec.(*actionlint.ExecRun)
		return ok && strings.Contains(r.Run.Value, "go test -race")
	}) {
		t.Error("test: no go test -race step")
	}

	img := w.Jobs["image"]
	if !slices.Contains(jobNeeds(img), "test") || !slices.Contains(jobNeeds(img), "lint") {
		t.Error("image: must need lint and test, so no untested image is pushed")
	}
	if img.Permissions == nil || img.Permissions.Scopes["packages"] == nil ||
		img.Permissions.Scopes["packages"].Value.Value != "write" {
		t.Error("image: lacks permissions packages: write")
	}
	build := action(img, "docker/build-push-action")
	if build == nil {
		t.Fatal("image: no docker/build-push-action step")
	}
	if v := input(build, "target"); v != "${{ inputs.service }}" {
		t.Errorf("image: target %q, want the service input", v)
	}
	if !strings.Contains(input(build, "build-args"), "VERSION=") {
		t.Error("image: no VERSION build-arg")
	}
	// Pull requests only build; only pushes to the default branch publish.
	if push := input(build, "push"); !strings.Contains(push, "PUSH") {
		t.Errorf("image: push is %q, not the default-branch-push condition", push)
	}
}

func TestReleaseWorkflow(t *testing.T) {
	w := workflows(t)["release"]
	if w == nil {
		t.Fatal("no .github/workflows/release.yml")
	}
	push := webhook(w, "push")
	if push == nil || !slices.Equal(values(push.Tags), []string{"v*"}) || len(w.On) != 1 {
		t.Fatal("release.yml must run on pushed tags v* only")
	}
	var images *actionlint.Job
	for _, j := range w.Jobs {
		if j.Strategy != nil && j.Strategy.Matrix != nil && j.Strategy.Matrix.Rows["program"] != nil {
			images = j
		}
	}
	if images == nil {
		t.Fatal("no job with a program matrix")
	}
	var programs []string
	for _, v := range images.Strategy.Matrix.Rows["program"].Values {
		if s, ok := v.(*actionlint.RawYAMLString); ok {
			programs = append(programs, s.Value)
		}
	}
	if !sameSet(programs, services) {
		t.Errorf("matrix builds %v, want %v", programs, services)
	}
	build := action(images, "docker/build-push-action")
	if build == nil || input(build, "push") != "true" || input(build, "target") != "${{ matrix.program }}" ||
		!strings.Contains(input(build, "build-args"), "VERSION=${{ github.ref_name }}") {
		t.Error("images: must push target matrix.program built with VERSION=<tag>")
	}
	released := false
	for _, j := range w.Jobs {
		if !slices.Contains(jobNeeds(j), jobID(w, images)) {
			continue
		}
		for _, s := range j.Steps {
			if r, ok := s.Exec.(*actionlint.ExecRun); ok && strings.Contains(r.Run.Value, "gh release create") {
				released = true
			}
			if a, ok := s.Exec.(*actionlint.ExecAction); ok && strings.HasPrefix(a.Uses.Value, "softprops/action-gh-release@") {
				released = true
			}
		}
	}
	if !released {
		t.Error("no job creates the GitHub release after the images are pushed")
	}
}

func jobNeeds(j *actionlint.Job) []string {
	var out []string
	for _, n := range j.Needs {
		out = append(out, strings.ToLower(n.Value))
	}
	return out
}

func jobID(w *actionlint.Workflow, j *actionlint.Job) string {
	for id, x := range w.Jobs {
		if x == j {
			return id
		}
	}
	return ""
}

// action is j's first step using the action repo (owner/name), or nil.
func action(j *actionlint.Job, repo string) *actionlint.ExecAction {
	for _, s := range j.Steps {
		if a, ok := s.Exec.(*actionlint.ExecAction); ok && strings.HasPrefix(a.Uses.Value, repo+"@") {
			return a
		}
	}
	return nil
}

func input(a *actionlint.ExecAction, name string) string {
	if in := a.Inputs[name]; in != nil && in.Value != nil {
		return strings.TrimSpace(in.Value.Value)
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
