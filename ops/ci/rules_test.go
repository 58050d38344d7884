package ci

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/rhysd/actionlint"
)

// The project's own rules, each a function from a parsed workflow to the
// problems found, so a test can show it rejects a bad workflow too.

// pinnedRef is a release tag (v4, v4.2, v4.2.1) or a full commit SHA:
// anything else (main, master, release/v1) is a branch that moves under us.
var pinnedRef = regexp.MustCompile(`^(v[0-9]+(\.[0-9]+){0,2}|[0-9a-f]{40})$`)

// checkPinned reports every action or remote reusable workflow referenced by
// something other than a tag or commit, and every container image without an
// explicit, non-latest tag.
func checkPinned(w *actionlint.Workflow) []string {
	var problems []string
	ref := func(where, uses string) {
		if strings.HasPrefix(uses, "./") {
			return // a file of this repository, at this commit
		}
		if img, ok := strings.CutPrefix(uses, "docker://"); ok {
			image(where, img, &problems)
			return
		}
		_, r, ok := strings.Cut(uses, "@")
		if !ok || !pinnedRef.MatchString(r) {
			problems = append(problems, fmt.Sprintf("%s: %q is not pinned to a release tag or commit", where, uses))
		}
	}
	for id, j := range w.Jobs {
		if j.WorkflowCall != nil && j.WorkflowCall.Uses != nil {
			ref("job "+id, j.WorkflowCall.Uses.Value)
		}
		if j.Container != nil && j.Container.Image != nil {
			image("job "+id+" container", j.Container.Image.Value, &problems)
		}
		if j.Services != nil {
			for name, s := range j.Services.Value {
				if s.Container != nil && s.Container.Image != nil {
					image("job "+id+" service "+name, s.Container.Image.Value, &problems)
				}
			}
		}
		for i, s := range j.Steps {
			if a, ok := s.Exec.(*actionlint.ExecAction); ok && a.Uses != nil {
				ref(fmt.Sprintf("job %s step %d", id, i+1), a.Uses.Value)
			}
		}
	}
	slices.Sort(problems)
	return problems
}

func image(where, img string, problems *[]string) {
	if strings.Contains(img, "@sha256:") {
		return
	}
	i := strings.LastIndex(img, ":")
	if i < 0 || strings.Contains(img[i:], "/") || img[i+1:] == "latest" {
		*problems = append(*problems, fmt.Sprintf("%s: image %q has no version tag", where, img))
	}
}

// checkTimeouts reports every job without a literal, positive
// timeout-minutes. A job calling a reusable workflow cannot set one (GitHub
// refuses it): it must call a workflow of this repository, whose own jobs
// this check covers, listed in known.
func checkTimeouts(w *actionlint.Workflow, known map[string]bool) []string {
	var problems []string
	for id, j := range w.Jobs {
		if j.WorkflowCall != nil {
			uses := ""
			if j.WorkflowCall.Uses != nil {
				uses = j.WorkflowCall.Uses.Value
			}
			name, ok := strings.CutPrefix(uses, "./.github/workflows/")
			if !ok || !known[strings.TrimSuffix(strings.TrimSuffix(name, ".yml"), ".yaml")] {
				problems = append(problems, fmt.Sprintf("job %s: calls %q, whose job timeouts are not checked here", id, uses))
			}
			continue
		}
		if t := j.TimeoutMinutes; t == nil || t.Expression != nil || t.Value <= 0 || t.Value > 360 {
			problems = append(problems, fmt.Sprintf("job %s: no timeout-minutes between 1 and 360", id))
		}
	}
	slices.Sort(problems)
	return problems
}

// webhook is w's trigger on hook (push, pull_request), or nil.
func webhook(w *actionlint.Workflow, hook string) *actionlint.WebhookEvent {
	for _, e := range w.On {
		if h, ok := e.(*actionlint.WebhookEvent); ok && h.Hook != nil && h.Hook.Value == hook {
			return h
		}
	}
	return nil
}

func values(f *actionlint.WebhookEventFilter) []string {
	if f == nil {
		return nil
	}
	out := make([]string, 0, len(f.Values))
	for _, v := range f.Values {
		out = append(out, v.Value)
	}
	return out
}

// checkCaller reports what is wrong with svc's caller workflow: it must run
// on pushes to main and on pull requests, each filtered on svc's folder and
// everything the image is built from (required), plus every folder of the
// repository svc's build and tests import (deps, relative directories), and
// call the shared pipeline with service: svc.
func checkCaller(w *actionlint.Workflow, svc string, deps []string) []string {
	var problems []string
	required := []string{svc + "/**", "kit/**", "pb/**", "go.mod", "go.sum", "Dockerfile"}
	for _, hook := range []string{"push", "pull_request"} {
		ev := webhook(w, hook)
		if ev == nil {
			problems = append(problems, "not triggered on "+hook)
			continue
		}
		if hook == "push" && !slices.Contains(values(ev.Branches), "main") {
			problems = append(problems, "push is not filtered to main")
		}
		if ev.PathsIgnore != nil {
			problems = append(problems, hook+": paths-ignore makes the filter hard to reason about; use paths")
		}
		paths := values(ev.Paths)
		if len(paths) == 0 {
			problems = append(problems, hook+": no paths filter")
			continue
		}
		for _, p := range required {
			if !slices.Contains(paths, p) {
				problems = append(problems, fmt.Sprintf("%s: paths lack %q", hook, p))
			}
		}
		for _, d := range deps {
			if !covered(paths, d+"/any.go") {
				problems = append(problems, fmt.Sprintf("%s: paths miss %s/, which %s imports", hook, d, svc))
			}
		}
	}
	calls := 0
	for id, j := range w.Jobs {
		if j.WorkflowCall == nil || j.WorkflowCall.Uses == nil || j.WorkflowCall.Uses.Value != reusable {
			problems = append(problems, fmt.Sprintf("job %s does not call %s", id, reusable))
			continue
		}
		calls++
		in := j.WorkflowCall.Inputs["service"]
		if in == nil || in.Value == nil || in.Value.Value != svc {
			problems = append(problems, fmt.Sprintf("job %s does not pass service: %s", id, svc))
		}
	}
	if calls != 1 {
		problems = append(problems, fmt.Sprintf("%d jobs call %s, want 1", calls, reusable))
	}
	slices.Sort(problems)
	return problems
}

// covered reports whether a change to file triggers a workflow filtered on
// paths (GitHub's glob syntax; a leading ! excludes again).
func covered(paths []string, file string) bool {
	in := false
	for _, p := range paths {
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if match(neg, file) {
				in = false
			}
		} else if match(p, file) {
			in = true
		}
	}
	return in
}

func match(pattern, file string) bool {
	ok, err := doublestar.Match(pattern, file)
	return err == nil && ok
}

// ciRun matches a step that runs the repository's CI entry point.
var ciRun = regexp.MustCompile(`(?m)^\s*(bash\s+)?(\./)?\.ci/run\s*$`)

// checkPlatform reports what keeps w from being the whole-platform check:
// it must run on pushes and pull requests, and some step must run .ci/run.
func checkPlatform(w *actionlint.Workflow) []string {
	var problems []string
	for _, hook := range []string{"push", "pull_request"} {
		if ev := webhook(w, hook); ev == nil {
			problems = append(problems, "not triggered on "+hook)
		} else if ev.Paths != nil || ev.PathsIgnore != nil {
			problems = append(problems, hook+": filtered on paths; the platform check must see every change")
		}
	}
	runs := false
	for _, j := range w.Jobs {
		for _, s := range j.Steps {
			if r, ok := s.Exec.(*actionlint.ExecRun); ok && r.Run != nil && ciRun.MatchString(r.Run.Value) {
				runs = true
			}
		}
	}
	if !runs {
		problems = append(problems, "no step runs bash .ci/run")
	}
	return problems
}

// checkConcurrency reports a workflow started by pushes or pull requests
// without a concurrency group, so superseded runs would pile up.
func checkConcurrency(w *actionlint.Workflow) []string {
	if webhook(w, "push") == nil && webhook(w, "pull_request") == nil {
		return nil
	}
	if w.Concurrency == nil || w.Concurrency.Group == nil || w.Concurrency.Group.Value == "" {
		return []string{"no workflow-level concurrency group"}
	}
	return nil
}
