//go:build unix

package pgtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without binaries the failure says what is missing and what to do.
func TestFindBinDirExplainsWhatIsMissing(t *testing.T) {
	empty := t.TempDir()
	// initdb alone is not enough: postgres must sit beside it.
	if err := os.WriteFile(filepath.Join(empty, "initdb"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := findBinDir([]string{empty})
	if err == nil {
		t.Fatal("found binaries in a directory without postgres")
	}
	for _, want := range []string{"initdb", "postgres", "DATABASE_URL", empty} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	if versionOf("/usr/lib/postgresql/15/bin") <= versionOf("/usr/lib/postgresql/9.6/bin") {
		t.Fatal("15 does not sort above 9.6")
	}
	if versionOf("/opt/homebrew/opt/postgresql@16/bin") != 16 || versionOf("/usr/pgsql-14/bin") != 14 {
		t.Fatal("version not found in brew or PGDG paths")
	}
}
