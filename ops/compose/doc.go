// Package compose checks kitshop's container delivery offline, without a
// container engine: ops/compose.yaml as compose-spec/compose-go loads and
// normalizes it, the Dockerfile as BuildKit parses it, the .dockerignore as
// Docker applies it, the Postgres init script against a real Postgres, and
// the compose Prometheus configuration with promtool.
//
// It is its own module so that compose-go and BuildKit stay out of the
// platform's dependencies: `cd ops/compose && go test ./...`.
package compose
