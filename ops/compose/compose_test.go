package compose

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// The stack the issue asks for, and nothing unexpected.
func TestComposeHasThePlatform(t *testing.T) {
	p := mustLoad(t)
	want := []string{devcaService, "postgres", "zipkin", "prometheus", "grafana"}
	for name := range programs {
		want = append(want, name)
	}
	slices.Sort(want)
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	if p.Name != "kitshop" {
		t.Errorf("project name %q, want kitshop (volume names depend on it)", p.Name)
	}
}

// Every image names a tag, and never latest: what runs is what was
// built or pinned, not whatever a registry serves today.
func TestImagesArePinned(t *testing.T) {
	p := mustLoad(t)
	for _, s := range p.Services {
		ref, err := reference.ParseNormalizedNamed(s.Image)
		if err != nil {
			t.Errorf("%s: image %q: %v", s.Name, s.Image, err)
			continue
		}
		tagged, ok := ref.(reference.Tagged)
		if _, digested := ref.(reference.Digested); !ok && !digested {
			t.Errorf("%s: image %q has no tag", s.Name, s.Image)
			continue
		}
		if ok && tagged.Tag() == "latest" {
			t.Errorf("%s: image %q uses latest", s.Name, s.Image)
		}
	}
}

// Each kitshop program is built from the repository's Dockerfile target
// of its own name (the certs job from devca), and the build's VERSION
// (what /health/live reports and the instance registers as) is the
// image's tag.
func TestProgramsBuildTheirOwnTarget(t *testing.T) {
	p := mustLoad(t)
	stages := dockerStages(t)
	for name, target := range buildTargets() {
		s := service(t, p, name)
		if s.Build == nil {
			t.Errorf("%s: no build section", name)
			continue
		}
		if s.Build.Target != target || !slices.ContainsFunc(stages, func(st instructions.Stage) bool { return st.Name == target }) {
			t.Errorf("%s: builds target %q; want the Dockerfile stage %q", name, s.Build.Target, target)
		}
		ctx, _ := filepath.Abs(repoRoot)
		if filepath.Clean(s.Build.Context) != ctx {
			t.Errorf("%s: build context %s, want the repository root %s", name, s.Build.Context, ctx)
		}
		ref, err := reference.ParseNormalizedNamed(s.Image)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		version := s.Build.Args["VERSION"]
		if tagged, ok := ref.(reference.Tagged); !ok || version == nil || *version != tagged.Tag() {
			t.Errorf("%s: build arg VERSION %v does not match the image tag of %s", name, version, s.Image)
		}
		if s.PullPolicy != types.PullPolicyBuild {
			t.Errorf("%s: pull_policy %q with the example env, want build (the images are not on any registry)", name, s.PullPolicy)
		}
	}
}

// buildTargets maps the compose services built from the Dockerfile to
// their target.
func buildTargets() map[string]string {
	m := map[string]string{devcaService: "devca"}
	for name := range programs {
		m[name] = name
	}
	return m
}

// Every kitshop program's container: a healthcheck that asks its own
// readiness endpoint, limits, a non-root user, a read-only root and no
// capabilities, and enough time to drain on stop.
func TestProgramContainers(t *testing.T) {
	p := mustLoad(t)
	for name, prog := range programs {
		s := service(t, p, name)
		checkHealthcheck(t, s, prog)
		checkLimits(t, s)
		if s.User != "65532:65532" {
			t.Errorf("%s: user %q, want the image's non-root 65532:65532", name, s.User)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || s.Privileged || len(s.CapAdd) > 0 {
			t.Errorf("%s: read_only %v cap_drop %v cap_add %v privileged %v", name, s.ReadOnly, s.CapDrop, s.CapAdd, s.Privileged)
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: security_opt %v lacks no-new-privileges", name, s.SecurityOpt)
		}
		// Deregistration grace (1.5 s) plus the drain timeout (15 s).
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) < 17*time.Second {
			t.Errorf("%s: stop_grace_period %v would SIGKILL a draining process", name, s.StopGracePeriod)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: restart %q", name, s.Restart)
		}
	}
}

func checkHealthcheck(t *testing.T, s types.ServiceConfig, prog program) {
	t.Helper()
	h := s.HealthCheck
	if h == nil || h.Disable || len(h.Test) == 0 {
		t.Errorf("%s: no healthcheck", s.Name)
		return
	}
	url := fmt.Sprintf("https://localhost:%d/health/ready", prog.httpPort)
	want := []string{"CMD", "/usr/local/bin/kitshop-shim", "probe", "-timeout=2s", url}
	if !slices.Equal(h.Test, want) {
		t.Errorf("%s: healthcheck %q, want %q", s.Name, h.Test, want)
	}
	if h.Timeout == nil || time.Duration(*h.Timeout) <= 2*time.Second {
		t.Errorf("%s: healthcheck timeout %v must exceed the probe's own 2s", s.Name, h.Timeout)
	}
	if h.Interval == nil || h.StartPeriod == nil || time.Duration(*h.StartPeriod) < 30*time.Second {
		t.Errorf("%s: healthcheck interval %v start_period %v (start-up may wait 30 s for Postgres)", s.Name, h.Interval, h.StartPeriod)
	}
}

func checkLimits(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	if s.Deploy == nil || s.Deploy.Resources.Limits == nil {
		t.Errorf("%s: no resource limits", s.Name)
		return
	}
	l := s.Deploy.Resources.Limits
	if l.MemoryBytes <= 0 || l.NanoCPUs <= 0 {
		t.Errorf("%s: limits memory %d cpus %v", s.Name, l.MemoryBytes, l.NanoCPUs)
	}
	if v, ok := envValue(s, "GOMEMLIMIT"); ok {
		n, err := parseGoMemLimit(v)
		if err != nil || n >= int64(l.MemoryBytes) {
			t.Errorf("%s: GOMEMLIMIT %s (%v) must be below the memory limit %d", s.Name, v, err, l.MemoryBytes)
		}
	} else if _, program := programs[s.Name]; program {
		t.Errorf("%s: no GOMEMLIMIT under its memory limit", s.Name)
	}
}

// parseGoMemLimit reads the runtime's GOMEMLIMIT syntax (a number with an
// optional B, KiB, MiB, GiB or TiB suffix).
func parseGoMemLimit(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			var n int64
			if _, err := fmt.Sscanf(num, "%d", &n); err != nil {
				return 0, err
			}
			return n * u.mult, nil
		}
	}
	var n int64
	_, err := fmt.Sscanf(v, "%d", &n)
	return n, err
}

// Every container of the stack is bounded, the third-party ones too.
func TestEveryServiceHasAMemoryLimit(t *testing.T) {
	p := mustLoad(t)
	for _, s := range p.Services {
		checkLimits(t, s)
	}
}

// Two replicas of each business service; a replica learns its own
// address at start (kitshop-shim exec -advertise), so nothing may pin
// one: no KITSHOP_ADVERTISE_HOST value, container name or host name, all
// of which every replica would share.
func TestReplicasAdvertiseThemselves(t *testing.T) {
	p := mustLoad(t)
	for name, prog := range programs {
		s := service(t, p, name)
		if got := s.GetScale(); got != prog.replicas {
			t.Errorf("%s: %d replicas, want %d", name, got, prog.replicas)
		}
		if s.ContainerName != "" || s.Hostname != "" {
			t.Errorf("%s: container_name %q hostname %q break scaling", name, s.ContainerName, s.Hostname)
		}
		if !prog.registers {
			continue
		}
		want := []string{"/usr/local/bin/kitshop-shim", "exec", "-advertise", "/usr/local/bin/" + name}
		if !slices.Equal(s.Entrypoint, want) {
			t.Errorf("%s: entrypoint %q, want %q", name, s.Entrypoint, want)
		}
		if v, ok := envValue(s, "KITSHOP_ADVERTISE_HOST"); ok {
			t.Errorf("%s: KITSHOP_ADVERTISE_HOST=%q would be every replica's address", name, v)
		}
		if v, _ := envValue(s, "KITSHOP_ETCD_ENDPOINTS"); v != "registry:2379" {
			t.Errorf("%s: KITSHOP_ETCD_ENDPOINTS=%q, want registry:2379", name, v)
		}
	}
	reg := service(t, p, "registry")
	if v, _ := envValue(reg, "KITSHOP_REGISTRY_ETCD_ADDR"); v != "0.0.0.0:2379" {
		t.Errorf("registry: etcd listens on %q; other containers need 0.0.0.0:2379", v)
	}
}

// Start order: the certificates first (a job that must succeed), then the
// registry and Postgres healthy, then the services; the gateway last,
// once every service it fronts is healthy.
func TestStartOrder(t *testing.T) {
	p := mustLoad(t)
	dep := func(s types.ServiceConfig, on, cond string) {
		t.Helper()
		d, ok := s.DependsOn[on]
		if !ok || d.Condition != cond {
			t.Errorf("%s: depends_on %s %+v, want condition %s", s.Name, on, d, cond)
		}
	}
	for name, prog := range programs {
		s := service(t, p, name)
		dep(s, devcaService, types.ServiceConditionCompletedSuccessfully)
		if name != "registry" {
			dep(s, "registry", types.ServiceConditionHealthy)
		}
		if prog.usesDB {
			dep(s, "postgres", types.ServiceConditionHealthy)
		}
	}
	gw := service(t, p, "gateway")
	for name, prog := range programs {
		if prog.usesDB {
			dep(gw, name, types.ServiceConditionHealthy)
		}
	}
	if port := gw.Ports; len(port) != 1 || port[0].Target != 8080 || port[0].Published != "8080" {
		t.Errorf("gateway ports %+v, want 8080 published", port)
	}
	dep(service(t, p, "prometheus"), "registry", types.ServiceConditionHealthy)
	dep(service(t, p, "grafana"), "prometheus", types.ServiceConditionHealthy)

	// Whatever is waited for must be able to satisfy the wait.
	for _, s := range p.Services {
		for on, d := range s.DependsOn {
			target := service(t, p, on)
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable || len(target.HealthCheck.Test) == 0 {
					t.Errorf("%s waits for %s to be healthy, which has no healthcheck", s.Name, on)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != types.RestartPolicyNo {
					t.Errorf("%s waits for %s to complete, which restarts (%q)", s.Name, on, target.Restart)
				}
			}
		}
	}
}

// Each process mounts its own certificate directory, read-only, and no
// other process's: a container can read only its own private key.
func TestEachContainerMountsOnlyItsOwnIdentity(t *testing.T) {
	p := mustLoad(t)
	for name := range programs {
		s := service(t, p, name)
		var tls []types.ServiceVolumeConfig
		for _, v := range s.Volumes {
			if strings.HasPrefix(v.Source, "tls-") || v.Source == "ca" {
				tls = append(tls, v)
			}
		}
		if len(tls) != 1 || tls[0].Source != "tls-"+name || tls[0].Target != "/etc/kitshop/tls" || !tls[0].ReadOnly {
			t.Errorf("%s: identity mounts %+v, want only tls-%s read-only at /etc/kitshop/tls", name, tls, name)
		}
		for _, v := range []string{"KITSHOP_TLS_CA", "KITSHOP_TLS_CERT", "KITSHOP_TLS_KEY"} {
			if got, _ := envValue(s, v); !strings.HasPrefix(got, "/etc/kitshop/tls/") {
				t.Errorf("%s: %s=%q, want a file of /etc/kitshop/tls", name, v, got)
			}
		}
	}
	// The job writes every directory (and keeps the CA), and needs no network.
	certs := service(t, p, devcaService)
	mounted := map[string]string{}
	for _, v := range certs.Volumes {
		mounted[v.Source] = v.Target
	}
	for name := range programs {
		if mounted["tls-"+name] != "/kitshop/tls/"+name {
			t.Errorf("certs: tls-%s mounted at %q, want /kitshop/tls/%s", name, mounted["tls-"+name], name)
		}
	}
	if mounted["ca"] != "/kitshop/ca" || mounted["tls-public"] != "/kitshop/tls/public" {
		t.Errorf("certs mounts %v", mounted)
	}
	if certs.NetworkMode != "none" {
		t.Errorf("certs: network_mode %q, want none", certs.NetworkMode)
	}
	// Prometheus gets the public CA certificate, nothing private.
	for _, v := range service(t, p, "prometheus").Volumes {
		if strings.HasPrefix(v.Source, "tls-") && v.Source != "tls-public" || v.Source == "ca" {
			t.Errorf("prometheus mounts %s", v.Source)
		}
	}
}

// Users signs tokens with one key shared by its replicas (made by the
// certs job into users' own directory), never a per-process one.
func TestUsersReplicasShareTheSigningKey(t *testing.T) {
	s := service(t, mustLoad(t), "users")
	if v, _ := envValue(s, "KITSHOP_JWT_KEY_FILE"); v != "/etc/kitshop/tls/jwt-key.pem" {
		t.Errorf("KITSHOP_JWT_KEY_FILE=%q, want the certs job's /etc/kitshop/tls/jwt-key.pem", v)
	}
}

// Each service reaches its own database as its own role.
func TestDatabaseURLs(t *testing.T) {
	p := mustLoad(t)
	env := exampleEnv(t)
	for name, prog := range programs {
		s := service(t, p, name)
		key := "KITSHOP_" + strings.ToUpper(name) + "_DATABASE_URL"
		v, ok := envValue(s, key)
		if !prog.usesDB {
			if ok {
				t.Errorf("%s: has %s", name, key)
			}
			continue
		}
		want := fmt.Sprintf("postgres://%s:%s@postgres:5432/%s?sslmode=disable", name, env[strings.ToUpper(name)+"_DB_PASSWORD"], name)
		if v != want {
			t.Errorf("%s: %s=%q, want %q", name, key, v, want)
		}
	}
}
