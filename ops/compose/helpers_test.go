package compose

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Paths from this directory.
const (
	repoRoot       = "../.."
	composeFile    = "../compose.yaml"
	envExampleFile = "../compose.env.example"
	dockerfile     = "../../Dockerfile"
	dockerignore   = "../../.dockerignore"
)

// program is a kitshop program as the compose file runs it.
type program struct {
	httpPort int
	replicas int
	// registers: the program registers itself in etcd, so each replica
	// must advertise its own address.
	registers bool
	// usesDB: the program has a database in the compose Postgres.
	usesDB bool
}

// programs are the kitshop programs (Dockerfile targets of the same
// name); devcaService is the one-shot certificate job.
var programs = map[string]program{
	"registry": {httpPort: 8090, replicas: 1},
	"users":    {httpPort: 8081, replicas: 2, registers: true, usesDB: true},
	"products": {httpPort: 8082, replicas: 2, registers: true, usesDB: true},
	"orders":   {httpPort: 8083, replicas: 2, registers: true, usesDB: true},
	"payments": {httpPort: 8084, replicas: 2, registers: true, usesDB: true},
	"gateway":  {httpPort: 8080, replicas: 1, registers: true},
}

const devcaService = "certs"

// secretName matches variable names whose values are secrets. Paths to
// secrets (*_FILE, *_PATH) are not secrets.
var secretName = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|API_?KEY|PRIVATE_?KEY|(^|_)KEY$)`)

func isSecretName(name string) bool {
	if strings.HasSuffix(name, "_FILE") || strings.HasSuffix(name, "_PATH") {
		return false
	}
	return secretName.MatchString(name)
}

// exampleEnv is ops/compose.env.example as compose reads an --env-file.
func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(envExampleFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env, err := dotenv.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", envExampleFile, err)
	}
	return env
}

// load loads and normalizes the compose file as `docker compose
// --env-file` would with exactly env (the test's own environment is left
// out, so results do not depend on who runs them).
func load(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	abs, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		Environment: maps.Clone(env),
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.ResolvePaths = true
	})
}

// mustLoad is load with the example env file, which must succeed.
func mustLoad(t *testing.T) *types.Project {
	t.Helper()
	p, err := load(t, exampleEnv(t))
	if err != nil {
		t.Fatalf("load %s with %s: %v", composeFile, envExampleFile, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	return s
}

func envValue(s types.ServiceConfig, name string) (string, bool) {
	v, ok := s.Environment[name]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}
