package main

import (
	"testing"

	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// TestMain stops the throwaway Postgres cluster the store tests start.
func TestMain(m *testing.M) { pgtest.Main(m) }
