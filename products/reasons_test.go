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
// platform-wide reasons callers of products act on, so that they find
// every products reason in one place; their values must be kit's.
func TestClientReasonsOfSharedErrors(t *testing.T) {
	if client.ReasonIdempotencyKeyReused != errs.ReasonIdempotencyKeyReused || client.ReasonIdempotencyKeyReused != ErrIdempotencyKeyReused.Reason {
		t.Errorf("IDEMPOTENCY_KEY_REUSED: client %q, kit %q", client.ReasonIdempotencyKeyReused, errs.ReasonIdempotencyKeyReused)
	}
	if client.ReasonInvalidPageToken != page.ReasonInvalidToken || client.ReasonInvalidPageToken != errs.As(ErrInvalidPageToken).Reason {
		t.Errorf("INVALID_PAGE_TOKEN: client %q, kit %q", client.ReasonInvalidPageToken, page.ReasonInvalidToken)
	}
}

// TestClientImportsOnlyKitAndPB: products/client is what other services
// and the gateway import, so of kitshop it may import only kit/ and pb/
// (ARCHITECTURE.md), never a service, products included. Third-party
// packages that kit is built on (grpc, gorilla/mux) are fine.
func TestClientImportsOnlyKitAndPB(t *testing.T) {
	const module = "github.com/kitshop/kitshop/"
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
			rest, ours := strings.CutPrefix(path, module)
			if ours && !strings.HasPrefix(rest, "kit/") && !strings.HasPrefix(rest, "pb/") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
