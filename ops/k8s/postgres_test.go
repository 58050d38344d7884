package k8s

import (
	"bufio"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const initScript = "init-databases.sh"

// TestPostgres: the StatefulSet gives each service's role its password
// from that service's Secret, keeps its data on the volume, and runs an
// init script that creates exactly the databases the services use.
func TestPostgres(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			objs := render(t, o)
			sts := typed[appsv1.StatefulSet](objs)["postgres"]
			if sts == nil {
				t.Fatal("no postgres StatefulSet")
			}
			checkSelector(t, sts.Spec.Selector.MatchLabels, sts.Spec.Template.Labels)
			checkVolumeOwnership(t, sts)
			spec := sts.Spec.Template.Spec
			c := spec.Containers[0]
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			for _, p := range programs {
				v, ok := env[strings.ToUpper(p.name)+"_DB_PASSWORD"]
				if p.database != ok {
					t.Errorf("%s_DB_PASSWORD set: %v, want %v", strings.ToUpper(p.name), ok, p.database)
					continue
				}
				if ok && (v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil ||
					logicalName(v.ValueFrom.SecretKeyRef.Name) != p.name+"-database" || v.ValueFrom.SecretKeyRef.Key != "password") {
					t.Errorf("%s_DB_PASSWORD: want secretKeyRef %s-database/password", strings.ToUpper(p.name), p.name)
				}
			}
			if su := env["POSTGRES_PASSWORD"]; su.ValueFrom == nil || su.ValueFrom.SecretKeyRef == nil {
				t.Error("POSTGRES_PASSWORD does not come from a Secret")
			}
			if m, ok := mountHolding(c, env["PGDATA"].Value); !ok || m.Name != sts.Spec.VolumeClaimTemplates[0].Name || env["PGDATA"].Value == m.MountPath {
				t.Errorf("PGDATA %q must be a subdirectory of the persistent volume", env["PGDATA"].Value)
			}
			m, vol, ok := mountOf(spec, c, "/docker-entrypoint-initdb.d/"+initScript)
			if !ok || vol.ConfigMap == nil || vol.ConfigMap.DefaultMode == nil || *vol.ConfigMap.DefaultMode&0o111 == 0 || !m.ReadOnly {
				t.Fatal("the init script is not mounted read-only and executable in /docker-entrypoint-initdb.d")
			}
			cm := typed[corev1.ConfigMap](objs)[vol.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("ConfigMap %s is not rendered", vol.ConfigMap.Name)
			}
			script := cm.Data[initScript]
			var want []string
			for _, p := range programs {
				if p.database {
					want = append(want, p.name)
				}
			}
			loop := regexp.MustCompile(`(?m)^for service in ([a-z ]+); do$`).FindStringSubmatch(script)
			if loop == nil || loop[1] != strings.Join(want, " ") {
				t.Errorf("the init script's services %q, want %q", loop, want)
			}
			svc := typed[corev1.Service](objs)["postgres"]
			if svc == nil || svc.Spec.Ports[0].Port != 5432 {
				t.Error("no postgres Service on 5432 (the host the database URLs name)")
			}
		})
	}
}

// TestInitScriptSyntax runs bash -n on the shell scripts.
func TestInitScriptSyntax(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("no bash on PATH")
	}
	for _, f := range []string{"base/postgres/" + initScript, "overlays/dev/secrets/generate.sh", "certs/make-certs.sh"} {
		if out, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", f, err, out)
		}
	}
}

// TestDevSecrets: the examples and generate.sh both write, for each
// service, a url that logs in as the service's role, with the password
// the init script gives that role, to its own database on the postgres
// Service.
func TestDevSecrets(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("overlays/dev/secrets/generate.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "generate.sh"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", filepath.Join(dir, "generate.sh")).CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	generated, _ := filepath.Glob(filepath.Join(dir, "*.env"))
	examples, _ := filepath.Glob("overlays/dev/secrets/*.env.example")
	if len(generated) != len(examples) {
		t.Errorf("generate.sh wrote %d files, there are %d examples", len(generated), len(examples))
	}
	for _, files := range [][]string{examples, generated} {
		for _, f := range files {
			base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".example"), ".env")
			kv := readEnvFile(t, f)
			service, isDB := strings.CutSuffix(base, "-database")
			if !isDB {
				continue
			}
			u, err := url.Parse(kv["url"])
			if err != nil {
				t.Errorf("%s: url: %v", f, err)
				continue
			}
			pw, _ := u.User.Password()
			if u.User.Username() != service || pw != kv["password"] || u.Host != "postgres:5432" ||
				u.Path != "/"+service || kv["password"] == "" {
				t.Errorf("%s: url %s does not log in as %s with the file's password to database %s at postgres:5432", f, u.Redacted(), service, service)
			}
		}
	}
}

// readEnvFile reads KEY=VALUE lines, skipping comments and blanks.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: line %q is not KEY=VALUE", path, line)
			continue
		}
		kv[k] = v
	}
	return kv
}
