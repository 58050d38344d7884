package k8s

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeListsSecrets: the README's table of the Secrets an operator
// creates names exactly the ones prod reads and does not make (optional
// ones aside), so the documentation cannot drift from the manifests.
func TestReadmeListsSecrets(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "| Secret | Keys | Read by |")
	if !ok {
		t.Fatal("README.md has no Secrets table")
	}
	name := regexp.MustCompile("`([a-z0-9-]+)`")
	var listed []string
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		first := strings.Split(line, "|")[1]
		if strings.Contains(first, "(optional)") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(first, -1) {
			listed = append(listed, m[1])
		}
	}
	sortStrings(listed)
	var prod overlay
	for _, o := range overlays {
		if o.name == "prod" {
			prod = o
		}
	}
	if want := sortedUnion(prod.external); !reflect.DeepEqual(listed, want) {
		t.Errorf("README lists %v, prod needs %v", listed, want)
	}
}
