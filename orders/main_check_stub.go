package main

// TEMPORARY (deleted at merge): `orders check` is the check work's
// (main_check.go). Until then the subcommand says it is not there.

import (
	"context"
	"errors"
)

func runCheck(context.Context, []string) error {
	return errors.New("check: not built yet")
}
