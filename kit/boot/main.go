package boot

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
)

// Main is a process's func main: it runs run with the command-line
// arguments and exits 1, with the error on stderr, if it fails. -h is not
// a failure.
func Main(name string, run func(ctx context.Context, args []string) error) {
	if err := run(context.Background(), os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
