// Package chaos runs `go run ./ops/chaos` scenarios and `ops/rollout
// restart` against `make run`'s platform (the launcher, on Postgres),
// with their invariants checked. It is a package of its own so that
// `go test` runs it beside ops/e2e rather than after it.
package chaos

import (
	"testing"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, kittest.RemoveBuilds) }
