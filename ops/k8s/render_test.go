package k8s

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlay is one kustomization the tests render, with what is expected of
// its output.
type overlay struct {
	name string
	// dir is relative to the module root (of the temporary copy).
	dir string
	// namespace every namespaced object must be in ("" for the base).
	namespace string
	// certManager: the cert-manager component is included.
	certManager bool
	// external are the Secrets the overlay references but does not make:
	// the ones an operator creates (ops/k8s/README.md, "Secrets"). nil
	// means "not checked" (the base, which makes none).
	external []string
}

// opsSecrets are the Secrets no overlay makes in production: database
// credentials, API keys and the public certificate.
var opsSecrets = []string{
	"gateway-api-keys", "gateway-public-tls", "gateway-session",
	"orders-database", "payments-database", "postgres-superuser",
	"products-database", "users-database",
}

// certSecrets are the Secrets components/cert-manager makes.
var certSecrets = []string{
	"etcd-tls", "gateway-tls", "orders-tls", "payments-tls",
	"products-tls", "users-jwt", "users-tls",
}

var overlays = []overlay{
	{name: "base", dir: "base"},
	{name: "dev", dir: "overlays/dev", namespace: "kitshop-dev", certManager: true, external: []string{}},
	{name: "prod", dir: "overlays/prod", namespace: "kitshop", external: sortedUnion(opsSecrets, certSecrets)},
	// Not a directory in the repository: prod with its commented-out
	// components lines uncommented, as README tells an operator to do.
	{name: "prod+cert-manager", dir: "overlays/prod-cert-manager", namespace: "kitshop", certManager: true, external: opsSecrets},
}

// certManagerLines are commented out in overlays/prod/kustomization.yaml;
// the prod+cert-manager overlay is a copy of prod with them uncommented.
const certManagerLines = "# components:\n#   - ../../components/cert-manager\n"

var (
	renderOnce sync.Once
	renderDir  string
	renderErr  error
	rendered   = map[string][]object{}
)

// render returns the decoded objects of o, rendering every overlay the
// first time it is called. The tree is copied to a temporary directory
// first, with the dev overlay's Secret files made from their examples,
// so that a developer's own secrets/*.env never reach a test and a fresh
// checkout renders as well as theirs.
func render(t *testing.T, o overlay) []object {
	t.Helper()
	renderOnce.Do(func() { renderErr = renderAll() })
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	objs, ok := rendered[o.name]
	if !ok {
		t.Fatalf("overlay %s was not rendered", o.name)
	}
	return objs
}

func renderAll() error {
	dir, err := os.MkdirTemp("", "kitshop-k8s-")
	if err != nil {
		return err
	}
	renderDir = dir
	for _, sub := range []string{"base", "components", "overlays"} {
		if err := copyTree(sub, filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	if err := secretsFromExamples(filepath.Join(dir, "overlays/dev/secrets")); err != nil {
		return err
	}
	if err := prodWithCertManager(dir); err != nil {
		return err
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	for _, o := range overlays {
		resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(dir, o.dir))
		if err != nil {
			return fmt.Errorf("kustomize build %s: %w", o.dir, err)
		}
		var objs []object
		for _, res := range resMap.Resources() {
			raw, err := res.MarshalJSON()
			if err != nil {
				return fmt.Errorf("%s: %s: %w", o.name, res.CurId(), err)
			}
			obj, err := decodeStrict(raw)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", o.name, res.CurId(), err)
			}
			objs = append(objs, obj)
		}
		rendered[o.name] = objs
	}
	return nil
}

// copyTree copies the regular files under src to dst, leaving out the
// dev overlay's real Secret files (secrets/*.env), which are git-ignored.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, strings.TrimPrefix(path, src))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if filepath.Base(filepath.Dir(path)) == "secrets" && strings.HasSuffix(path, ".env") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// prodWithCertManager writes overlays/prod-cert-manager under dir: the
// prod overlay with the cert-manager component switched on.
func prodWithCertManager(dir string) error {
	src, dst := filepath.Join(dir, "overlays/prod"), filepath.Join(dir, "overlays/prod-cert-manager")
	if err := copyTree(src, dst); err != nil {
		return err
	}
	k := filepath.Join(dst, "kustomization.yaml")
	data, err := os.ReadFile(k)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), certManagerLines) {
		return fmt.Errorf("overlays/prod/kustomization.yaml lost its commented-out lines %q", certManagerLines)
	}
	on := strings.ReplaceAll(strings.ReplaceAll(certManagerLines, "# ", ""), "#", "")
	return os.WriteFile(k, []byte(strings.Replace(string(data), certManagerLines, on, 1)), 0o644)
}

// secretsFromExamples writes each *.env.example in dir as *.env.
func secretsFromExamples(dir string) error {
	examples, err := filepath.Glob(filepath.Join(dir, "*.env.example"))
	if err != nil {
		return err
	}
	if len(examples) == 0 {
		return fmt.Errorf("no *.env.example in %s", dir)
	}
	for _, ex := range examples {
		data, err := os.ReadFile(ex)
		if err != nil {
			return err
		}
		if err := os.WriteFile(strings.TrimSuffix(ex, ".example"), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if renderDir != "" {
		_ = os.RemoveAll(renderDir)
	}
	os.Exit(code)
}

// TestOverlaysRender renders every overlay and decodes every object
// strictly (the work is in render); it also checks each namespaced
// object is where the overlay puts it.
func TestOverlaysRender(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			objs := render(t, o)
			if len(objs) == 0 {
				t.Fatal("rendered nothing")
			}
			for _, obj := range objs {
				if obj.Kind == "Namespace" {
					if obj.Name != o.namespace {
						t.Errorf("Namespace %s, want only %s", obj.Name, o.namespace)
					}
					continue
				}
				if obj.Namespace != o.namespace {
					t.Errorf("%s is in namespace %q, want %q", obj, obj.Namespace, o.namespace)
				}
			}
		})
	}
}

func sortedUnion(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sortStrings(out)
	return out
}
