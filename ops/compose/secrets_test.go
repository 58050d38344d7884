package compose

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// secretVars are the example env file's secret variables.
func secretVars(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range exampleEnv(t) {
		if isSecretName(k) {
			out[k] = v
		}
	}
	for _, want := range []string{"POSTGRES_PASSWORD", "USERS_DB_PASSWORD", "KITSHOP_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} {
		if _, ok := out[want]; !ok {
			t.Fatalf("%s has no %s (or the secret detector misses it)", envExampleFile, want)
		}
	}
	return out
}

func TestSecretNames(t *testing.T) {
	for name, want := range map[string]bool{
		"POSTGRES_PASSWORD": true, "KITSHOP_API_KEYS": true, "GF_SECURITY_SECRET_KEY": true,
		"AWS_SECRET_ACCESS_KEY": true, "GITHUB_TOKEN": true, "KITSHOP_TLS_KEY": true,
		"KITSHOP_JWT_KEY_FILE": false, "KITSHOP_TLS_CERT": false, "KITSHOP_LOG_LEVEL": false, "GOMEMLIMIT": false,
	} {
		if isSecretName(name) != want {
			t.Errorf("isSecretName(%s) = %v", name, !want)
		}
	}
}

// markedEnv is the example env with every secret replaced by a marker
// that appears nowhere else, and the set of markers.
func markedEnv(t *testing.T) (env map[string]string, markers map[string]bool) {
	t.Helper()
	env, markers = exampleEnv(t), map[string]bool{}
	for k := range secretVars(t) {
		env[k] = "marker" + strings.ToLower(strings.ReplaceAll(k, "_", ""))
		markers[env[k]] = true
	}
	return env, markers
}

// onlyMarkedSecrets fails when a container's secret-named variable holds
// anything but a marker (or nothing, or a path), when a URL's password is
// not a marker, or when a secret is on a command line.
func onlyMarkedSecrets(t *testing.T, p *types.Project, markers map[string]bool, context string) {
	t.Helper()
	for _, s := range p.Services {
		for k, v := range s.Environment {
			if v == nil {
				continue
			}
			if isSecretName(k) && *v != "" && !markers[*v] && !strings.HasPrefix(*v, "/") {
				t.Errorf("%s: %s: %s has a value not from the env file", context, s.Name, k)
			}
			if u, err := url.Parse(*v); err == nil && u.User != nil {
				if pw, set := u.User.Password(); set && !markers[pw] {
					t.Errorf("%s: %s: %s holds a URL whose password is not from the env file", context, s.Name, k)
				}
			}
		}
		for _, arg := range slices.Concat(s.Command, s.Entrypoint) {
			for m := range markers {
				if strings.Contains(arg, m) {
					t.Errorf("%s: %s: a secret is on the command line, where ps and docker inspect show it", context, s.Name)
				}
			}
		}
	}
}

// No secret is written in the compose file: loaded with every secret of
// the env file replaced by a marker, every secret-named variable of every
// container is a marker (or empty), and every URL's password is one. So
// each secret comes from the env file, however a future edit spells it.
func TestNoInlineSecrets(t *testing.T) {
	env, markers := markedEnv(t)
	p, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	onlyMarkedSecrets(t, p, markers, "example env")
	// And no value of the example file was pasted in.
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range secretVars(t) {
		if v != "" && strings.Contains(string(raw), v) {
			t.Errorf("%s holds %s's example value", composeFile, k)
		}
	}
}

// A secret has no default: without it the stack either refuses to load,
// naming the variable (docker compose stops before starting anything), or
// the setting is off (no admin password, no admin account), never a
// built-in value.
func TestSecretsHaveNoDefaults(t *testing.T) {
	for k := range secretVars(t) {
		env, markers := markedEnv(t)
		delete(env, k)
		p, err := load(t, env)
		if err != nil {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("without %s: %v (does not name it)", k, err)
			}
			continue
		}
		onlyMarkedSecrets(t, p, markers, "without "+k)
	}
}
