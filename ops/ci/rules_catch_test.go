package ci

import (
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// Each rule must reject the mistake it exists for: these feed it small
// workflows that get one thing wrong.

func parse(t *testing.T, src string) *actionlint.Workflow {
	t.Helper()
	w, errs := actionlint.Parse([]byte(src))
	if len(errs) > 0 || w == nil {
		t.Fatalf("fixture does not parse: %v", errs)
	}
	return w
}

func wantProblem(t *testing.T, problems []string, substr string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, substr) {
			return
		}
	}
	t.Errorf("no problem mentions %q; got %q", substr, problems)
}

func TestCheckPinnedRejectsBranchesAndFloatingImages(t *testing.T) {
	w := parse(t, `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    services:
      db:
        image: postgres
      cache:
        image: redis:latest
    steps:
      - uses: actions/checkout@main
      - uses: actions/setup-go@release/v5
      - uses: docker/login-action
      - uses: actions/cache@v4
      - uses: actions/cache@v4.2.1
      - uses: actions/cache@0123456789abcdef0123456789abcdef01234567
      - uses: ./local/action
      - uses: docker://alpine
  b:
    uses: org/repo/.github/workflows/x.yml@master
`)
	problems := checkPinned(w)
	for _, bad := range []string{"actions/checkout@main", "setup-go@release/v5", "docker/login-action", "x.yml@master",
		`image "postgres"`, `image "redis:latest"`, `image "alpine"`} {
		wantProblem(t, problems, bad)
	}
	if len(problems) != 7 {
		t.Errorf("want exactly the 7 unpinned references, got %q", problems)
	}
}

func TestCheckTimeoutsRejectsUnboundedJobs(t *testing.T) {
	w := parse(t, `on: push
jobs:
  none:
    runs-on: ubuntu-latest
    steps: [{run: "true"}]
  expr:
    runs-on: ubuntu-latest
    timeout-minutes: ${{ 5 }}
    steps: [{run: "true"}]
  ok:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps: [{run: "true"}]
  remote:
    uses: org/repo/.github/workflows/x.yml@v1
  local:
    uses: ./.github/workflows/service.yml
`)
	problems := checkTimeouts(w, map[string]bool{"service": true})
	for _, bad := range []string{"job none", "job expr", "job remote"} {
		wantProblem(t, problems, bad)
	}
	if len(problems) != 3 {
		t.Errorf("want problems for none, expr and remote only, got %q", problems)
	}
}

func TestCheckCallerRejectsNarrowFilters(t *testing.T) {
	w := parse(t, `on:
  push:
    branches: [develop]
    paths: [orders/**, pb/**, go.mod, go.sum, Dockerfile]
  pull_request:
    paths: [orders/**, kit/**, pb/**, go.mod, go.sum, Dockerfile, "!kit/pg/**"]
jobs:
  pipeline:
    uses: ./.github/workflows/service.yml
    with:
      service: users
`)
	problems := checkCaller(w, "orders", []string{"orders", "kit/pg", "users/client"})
	for _, bad := range []string{"push is not filtered to main", `push: paths lack "kit/**"`,
		"push: paths miss kit/pg/", "pull_request: paths miss kit/pg/", "pull_request: paths miss users/client/",
		"does not pass service: orders"} {
		wantProblem(t, problems, bad)
	}

	w = parse(t, `on:
  pull_request:
    paths: [users/**, kit/**, pb/**, go.mod, go.sum, Dockerfile]
jobs:
  pipeline:
    uses: ./.github/workflows/other.yml
    with:
      service: users
`)
	problems = checkCaller(w, "users", []string{"users"})
	wantProblem(t, problems, "not triggered on push")
	wantProblem(t, problems, "does not call ./.github/workflows/service.yml")
}

func TestCheckPlatformRequiresCIRunOnEveryChange(t *testing.T) {
	w := parse(t, `on:
  push:
    paths: [kit/**]
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - run: make test
      - run: echo bash .ci/run
`)
	problems := checkPlatform(w)
	wantProblem(t, problems, "not triggered on pull_request")
	wantProblem(t, problems, "push: filtered on paths")
	wantProblem(t, problems, "no step runs bash .ci/run")
}

func TestCheckConcurrencyRequiresAGroup(t *testing.T) {
	w := parse(t, `on: [push]
jobs:
  a:
    runs-on: ubuntu-latest
    steps: [{run: "true"}]
`)
	wantProblem(t, checkConcurrency(w), "no workflow-level concurrency group")
	called := parse(t, `on: workflow_call
jobs:
  a:
    runs-on: ubuntu-latest
    steps: [{run: "true"}]
`)
	if p := checkConcurrency(called); p != nil {
		t.Errorf("a reusable workflow runs in its caller's group, yet: %q", p)
	}
}
