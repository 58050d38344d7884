package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
	"github.com/kitshop/kitshop/products/client"
)

// TestClientReasonsOfSharedErrors: products/client repeats the two
// platform-wide reasons callers of products act on (it may not import kit);
// their values must be kit's.
func TestClientReasonsOfSharedErrors(t *testing.T) {
	if client.ReasonIdempotencyKeyReused != errs.ReasonIdempotencyKeyReused || client.ReasonIdempotencyKeyReused != ErrIdempotencyKeyReused.Reason {
		t.Errorf("IDEMPOTENCY_KEY_REUSED: client %q, kit %q", client.ReasonIdempotencyKeyReused, errs.ReasonIdempotencyKeyReused)
	}
	if client.ReasonInvalidPageToken != page.ReasonInvalidToken || client.ReasonInvalidPageToken != errs.As(ErrInvalidPageToken).Reason {
		t.Errorf("INVALID_PAGE_TOKEN: client %q, kit %q", client.ReasonInvalidPageToken, page.ReasonInvalidToken)
	}
}

// TestClientImportsOnlyTheStandardLibrary keeps products/client cheap to
// depend on.
func TestClientImportsOnlyTheStandardLibrary(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("client", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no client sources: %v", err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
