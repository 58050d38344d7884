package k8s

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// program is one kitshop binary deployed as a Deployment.
type program struct {
	name       string
	http, grpc int32 // grpc 0: none
	database   bool
}

// programs are ARCHITECTURE.md's default ports. The registry is not
// among them: it embeds etcd and cannot use an external one, so the etcd
// StatefulSet replaces it (ops/k8s/README.md).
var programs = []program{
	{name: "users", http: 8081, grpc: 9081, database: true},
	{name: "products", http: 8082, grpc: 9082, database: true},
	{name: "orders", http: 8083, grpc: 9083, database: true},
	{name: "payments", http: 8084, grpc: 9084, database: true},
	{name: "gateway", http: 8080},
}

const (
	kitshopImageRepo = "ghcr.io/kitshop/"
	nonRootUID       = 65532
)

// TestProgramDeployments checks every program's Deployment for what a
// zero-downtime, locked-down rollout needs.
func TestProgramDeployments(t *testing.T) {
	for _, o := range overlays {
		objs := render(t, o)
		deps := typed[appsv1.Deployment](objs)
		if len(deps) != len(programs) {
			t.Errorf("%s: Deployments %v, want one per program", o.name, sortedKeys(deps))
		}
		for _, p := range programs {
			t.Run(o.name+"/"+p.name, func(t *testing.T) {
				d, ok := deps[p.name]
				if !ok {
					t.Fatal("no Deployment")
				}
				checkDeployment(t, objs, p, d)
			})
		}
	}
}

func checkDeployment(t *testing.T, objs []object, p program, d *appsv1.Deployment) {
	if d.Spec.Replicas != nil {
		t.Errorf("replicas = %d: the HorizontalPodAutoscaler owns the count; a fixed one resets it on every apply", *d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v: want RollingUpdate with maxUnavailable 0 (a new pod ready before an old one leaves)", d.Spec.Strategy)
	}
	checkSelector(t, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	spec := d.Spec.Template.Spec
	checkPodSecurity(t, spec, nonRootUID)
	if len(spec.Containers) != 1 || spec.Containers[0].Name != p.name {
		t.Fatalf("containers %v, want exactly one named %s", containerNames(spec), p.name)
	}
	c := spec.Containers[0]
	env := resolveEnv(t, objs, c)

	if !strings.HasPrefix(c.Image, kitshopImageRepo+p.name+":") {
		t.Errorf("image %s, want %s%s:<version>", c.Image, kitshopImageRepo, p.name)
	}
	checkPorts(t, p, c, env)

	// Under mTLS (always, here) the HTTP port speaks HTTPS; the kubelet
	// does not verify the certificate, and the server asks for none.
	if !env.isSet("KITSHOP_TLS_CA") || !env.isSet("KITSHOP_TLS_CERT") || !env.isSet("KITSHOP_TLS_KEY") {
		t.Error("KITSHOP_TLS_CA/CERT/KEY not all set: without mTLS a service binds gRPC to loopback and nobody can call it")
	}
	checkTLSMount(t, spec, c, env, p.name+"-tls")
	checkProbe(t, "readiness", c.ReadinessProbe, "/health/ready", p.http)
	checkProbe(t, "liveness", c.LivenessProbe, "/health/live", p.http)
	checkProbe(t, "startup", c.StartupProbe, "/health/live", p.http)
	if c.StartupProbe != nil {
		budget := time.Duration(c.StartupProbe.PeriodSeconds*c.StartupProbe.FailureThreshold) * time.Second
		if startup := env.duration(t, "KITSHOP_STARTUP_TIMEOUT", 30*time.Second); budget <= startup {
			t.Errorf("startup probe allows %v, not more than KITSHOP_STARTUP_TIMEOUT %v: a pod waiting for Postgres would be killed first", budget, startup)
		}
	}
	checkTermination(t, spec, c, env)
	checkResources(t, c)

	adv := env.vars["KITSHOP_ADVERTISE_HOST"]
	if adv.ValueFrom == nil || adv.ValueFrom.FieldRef == nil || adv.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Error("KITSHOP_ADVERTISE_HOST is not the pod IP (fieldRef status.podIP): peers would dial 127.0.0.1")
	}
	db, hasDB := env.vars["DATABASE_URL"]
	switch {
	case p.database && (!hasDB || db.ValueFrom == nil || db.ValueFrom.SecretKeyRef == nil ||
		logicalName(db.ValueFrom.SecretKeyRef.Name) != p.name+"-database" || db.ValueFrom.SecretKeyRef.Key != "url"):
		t.Errorf("DATABASE_URL %+v: want secretKeyRef %s-database/url", db, p.name)
	case !p.database && hasDB:
		t.Error("DATABASE_URL set on a program without a database")
	}
	for name, v := range env.vars {
		if v.Value != "" && (strings.Contains(name, "PASSWORD") || strings.Contains(name, "KEYS") || name == "DATABASE_URL") {
			t.Errorf("%s has an inline value: secrets come from Secrets", name)
		}
	}
	checkEtcdEndpoints(t, objs, env)
}

// checkPorts: the container ports, the listen addresses and ARCHITECTURE.md
// agree.
func checkPorts(t *testing.T, p program, c corev1.Container, env containerEnv) {
	want := map[string]int32{"http": p.http}
	if p.grpc != 0 {
		want["grpc"] = p.grpc
	}
	got := map[string]int32{}
	for _, port := range c.Ports {
		got[port.Name] = port.ContainerPort
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("container ports %v, want %v", got, want)
	}
	if a := env.value("KITSHOP_HTTP_ADDR"); a != fmt.Sprintf(":%d", p.http) {
		t.Errorf("KITSHOP_HTTP_ADDR %q, want :%d", a, p.http)
	}
	if p.grpc != 0 {
		if a := env.value("KITSHOP_GRPC_ADDR"); a != fmt.Sprintf(":%d", p.grpc) {
			t.Errorf("KITSHOP_GRPC_ADDR %q, want :%d", a, p.grpc)
		}
	}
}

// checkTLSMount: the three TLS files live in a read-only mount of secret.
func checkTLSMount(t *testing.T, spec corev1.PodSpec, c corev1.Container, env containerEnv, secret string) {
	for _, v := range []string{"KITSHOP_TLS_CA", "KITSHOP_TLS_CERT", "KITSHOP_TLS_KEY"} {
		path := env.value(v)
		m, vol, ok := mountOf(spec, c, path)
		if !ok {
			t.Errorf("%s=%s is in no volume mount", v, path)
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s: mount %s is writable", v, m.MountPath)
		}
		if vol.Secret == nil || logicalName(vol.Secret.SecretName) != secret {
			t.Errorf("%s: volume %s is not Secret %s", v, vol.Name, secret)
		}
		if vol.Secret != nil && (vol.Secret.DefaultMode == nil || *vol.Secret.DefaultMode&0o007 != 0) {
			t.Errorf("%s: Secret volume %s is readable by others (want a defaultMode like 0440, read through fsGroup)", v, vol.Name)
		}
	}
}

func checkProbe(t *testing.T, kind string, pr *corev1.Probe, path string, port int32) {
	if pr == nil || pr.HTTPGet == nil {
		t.Errorf("%s probe: want an HTTPS GET %s", kind, path)
		return
	}
	g := pr.HTTPGet
	if g.Path != path || g.Scheme != corev1.URISchemeHTTPS || !portIs(g.Port, "http", port) {
		t.Errorf("%s probe GET %s://:%s%s, want HTTPS on the http port (%d) %s", kind, g.Scheme, g.Port.String(), g.Path, port, path)
	}
}

// checkTermination: SIGTERM comes after preStop; then the process keeps
// serving for the deregistration grace, drains for up to the drain
// timeout, and closes its stores. The kubelet must wait for all of it.
func checkTermination(t *testing.T, spec corev1.PodSpec, c corev1.Container, env containerEnv) {
	grace := env.duration(t, "KITSHOP_DEREGISTER_GRACE", 1500*time.Millisecond)
	drain := env.duration(t, "KITSHOP_DRAIN_TIMEOUT", 15*time.Second)
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Error("no preStop sleep action (the images have no shell, so exec sleep cannot work)")
		return
	}
	if c.Lifecycle.PreStop.Exec != nil || c.Lifecycle.PreStop.HTTPGet != nil {
		t.Error("preStop has more than the sleep action")
	}
	pause := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if pause < grace {
		t.Errorf("preStop sleeps %v, less than KITSHOP_DEREGISTER_GRACE %v", pause, grace)
	}
	if spec.TerminationGracePeriodSeconds == nil {
		t.Fatal("terminationGracePeriodSeconds unset")
	}
	tgp := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	if need := pause + grace + drain; tgp <= need {
		t.Errorf("terminationGracePeriodSeconds %v, want more than preStop %v + grace %v + drain %v", tgp, pause, grace, drain)
	}
}

func checkResources(t *testing.T, c corev1.Container) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[name]
		lim, okLim := c.Resources.Limits[name]
		if !okReq || !okLim || req.IsZero() || lim.IsZero() {
			t.Errorf("%s: %s request and limit must both be set", c.Name, name)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s above its limit %s", c.Name, name, req.String(), lim.String())
		}
	}
}

// checkEtcdEndpoints: KITSHOP_ETCD_ENDPOINTS lists every member of the
// etcd StatefulSet by its stable name, on its client port.
func checkEtcdEndpoints(t *testing.T, objs []object, env containerEnv) {
	sts, ok := typed[appsv1.StatefulSet](objs)["etcd"]
	if !ok || sts.Spec.Replicas == nil {
		t.Error("no etcd StatefulSet with a replica count")
		return
	}
	var want []string
	for i := int32(0); i < *sts.Spec.Replicas; i++ {
		want = append(want, fmt.Sprintf("%s-%d.%s:%d", sts.Name, i, sts.Spec.ServiceName, containerPort(sts.Spec.Template.Spec.Containers[0], "client")))
	}
	if got := env.value("KITSHOP_ETCD_ENDPOINTS"); got != strings.Join(want, ",") {
		t.Errorf("KITSHOP_ETCD_ENDPOINTS %q, want %q", got, strings.Join(want, ","))
	}
}

// TestDisruptionBudgetsAndAutoscalers: one PodDisruptionBudget and one
// autoscaling/v2 HorizontalPodAutoscaler per program, each aimed at it.
func TestDisruptionBudgetsAndAutoscalers(t *testing.T) {
	for _, o := range overlays {
		objs := render(t, o)
		deps := typed[appsv1.Deployment](objs)
		pdbs := typed[policyv1.PodDisruptionBudget](objs)
		hpas := typed[autoscalingv2.HorizontalPodAutoscaler](objs)
		for _, p := range programs {
			t.Run(o.name+"/"+p.name, func(t *testing.T) {
				d := deps[p.name]
				if d == nil {
					t.Fatal("no Deployment")
				}
				pdb := pdbs[p.name]
				if pdb == nil {
					t.Fatal("no PodDisruptionBudget")
				}
				if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
					t.Errorf("PodDisruptionBudget selector %v does not select the pods", pdb.Spec.Selector)
				}
				for _, other := range deps {
					if other.Name != p.name && pdb.Spec.Selector != nil && selects(pdb.Spec.Selector.MatchLabels, other.Spec.Template.Labels) {
						t.Errorf("PodDisruptionBudget also selects %s's pods", other.Name)
					}
				}
				if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() < 1 {
					t.Errorf("maxUnavailable %v: want at least 1, so the budget never blocks a drain", pdb.Spec.MaxUnavailable)
				}

				h := hpas[p.name]
				if h == nil {
					t.Fatal("no HorizontalPodAutoscaler")
				}
				ref := h.Spec.ScaleTargetRef
				if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != p.name {
					t.Errorf("scaleTargetRef %+v, want apps/v1 Deployment %s", ref, p.name)
				}
				if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
					t.Errorf("replicas %v..%d make no sense", h.Spec.MinReplicas, h.Spec.MaxReplicas)
				}
				if o.name == "prod" && *h.Spec.MinReplicas < 2 {
					t.Errorf("prod minReplicas %d: one pod is an outage during its own restart", *h.Spec.MinReplicas)
				}
				cpu := false
				for _, m := range h.Spec.Metrics {
					if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
						m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil {
						cpu = true
					}
				}
				if !cpu {
					t.Error("no CPU utilization metric")
				}
				if _, ok := d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; !ok {
					t.Error("CPU utilization needs a CPU request")
				}
			})
		}
	}
}

// TestImages: every image names a version, never latest, and one overlay
// runs one kitshop version throughout.
func TestImages(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			versions := map[string]bool{}
			for _, w := range workloads(render(t, o)) {
				for _, c := range append(w.pod.InitContainers, w.pod.Containers...) {
					repo, tag, digest := splitImage(c.Image)
					if tag == "" && digest == "" || tag == "latest" {
						t.Errorf("%s/%s: image %s has no pinned version", w.name, c.Name, c.Image)
					}
					if strings.HasPrefix(repo, kitshopImageRepo) {
						versions[tag+digest] = true
					}
				}
			}
			if len(versions) != 1 {
				t.Errorf("kitshop image versions %v, want one", sortedKeys(versions))
			}
		})
	}
}

// splitImage splits repo[:tag][@digest]; a port in the registry host is
// not a tag.
func splitImage(image string) (repo, tag, digest string) {
	if i := strings.Index(image, "@"); i >= 0 {
		image, digest = image[:i], image[i:]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image, tag = image[:i], image[i+1:]
	}
	return image, tag, digest
}

func portIs(p intstr.IntOrString, name string, number int32) bool {
	if p.Type == intstr.String {
		return p.StrVal == name
	}
	return p.IntVal == number
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func containerNames(spec corev1.PodSpec) []string {
	var names []string
	for _, c := range spec.Containers {
		names = append(names, c.Name)
	}
	return names
}

// mountOf finds the mount (and its pod volume) that holds path.
func mountOf(spec corev1.PodSpec, c corev1.Container, path string) (corev1.VolumeMount, corev1.Volume, bool) {
	m, ok := mountHolding(c, path)
	if !ok {
		return m, corev1.Volume{}, false
	}
	for _, v := range spec.Volumes {
		if v.Name == m.Name {
			return m, v, true
		}
	}
	return m, corev1.Volume{}, false
}

// mountHolding finds the container's mount that holds path.
func mountHolding(c corev1.Container, path string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if path != "" && (path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")) {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

// selects reports whether a matchLabels selector selects labels. An empty
// selector selects nothing here: none of ours is meant to be empty.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func checkSelector(t *testing.T, selector, labels map[string]string) {
	t.Helper()
	if !selects(selector, labels) {
		t.Errorf("selector %v does not select the template's labels %v", selector, labels)
	}
}

// containerEnv is a container's environment with envFrom ConfigMaps
// resolved (env wins over envFrom, as in the kubelet).
type containerEnv struct {
	vars map[string]corev1.EnvVar
}

func resolveEnv(t *testing.T, objs []object, c corev1.Container) containerEnv {
	t.Helper()
	cms := typed[corev1.ConfigMap](objs)
	e := containerEnv{vars: map[string]corev1.EnvVar{}}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Errorf("envFrom %+v: only ConfigMaps are expected", from)
			continue
		}
		cm, ok := cms[from.ConfigMapRef.Name]
		if !ok {
			t.Errorf("envFrom ConfigMap %s is not rendered", from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			e.vars[from.Prefix+k] = corev1.EnvVar{Name: from.Prefix + k, Value: v}
		}
	}
	for _, v := range c.Env {
		e.vars[v.Name] = v
	}
	return e
}

func (e containerEnv) isSet(name string) bool { return e.value(name) != "" }

func (e containerEnv) value(name string) string { return e.vars[name].Value }

// duration parses a duration setting, def when unset.
func (e containerEnv) duration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := e.value(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Errorf("%s=%q: %v", name, v, err)
		return def
	}
	return d
}

// generatedSuffix is the content hash kustomize appends to the names of
// generated ConfigMaps and Secrets (and rewrites every reference to).
var generatedSuffix = regexp.MustCompile(`-[a-z0-9]{10}$`)

// logicalName is a ConfigMap's or Secret's name without that hash.
func logicalName(name string) string { return generatedSuffix.ReplaceAllString(name, "") }
