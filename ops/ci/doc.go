// Package ci validates the GitHub Actions workflows in .github/workflows,
// offline, as part of make test: every file passes actionlint (used as a
// library), and the project's own rules hold (path filters that cover what
// each program is built from, a timeout on every job, actions pinned to a
// release tag or commit, the platform workflow running .ci/run).
//
// It is a nested module so actionlint's dependencies stay out of the
// platform's go.mod. Run it with: cd ops/ci && go test ./...
package ci
