package e2e

import (
	"testing"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, kittest.RemoveBuilds) }
