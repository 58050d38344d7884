package k8s

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// TestEtcd: a 3-member cluster that can form (members start together and
// resolve before they are ready), with mutual TLS on client and peer
// traffic from a read-only Secret mount, probes, persistent data and a
// budget that keeps the quorum.
func TestEtcd(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			objs := render(t, o)
			sts := typed[appsv1.StatefulSet](objs)["etcd"]
			if sts == nil {
				t.Fatal("no etcd StatefulSet")
			}
			if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
				t.Fatalf("replicas %v, want 3", sts.Spec.Replicas)
			}
			if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
				t.Error("podManagementPolicy is not Parallel: the first member would wait for a quorum that is never started")
			}
			checkSelector(t, sts.Spec.Selector.MatchLabels, sts.Spec.Template.Labels)
			headless := typed[corev1.Service](objs)[sts.Spec.ServiceName]
			if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s must be headless and publish not-ready addresses, so members resolve each other before quorum", sts.Spec.ServiceName)
			}
			checkVolumeOwnership(t, sts)
			if len(sts.Spec.VolumeClaimTemplates) != 1 {
				t.Error("no volume claim template: the data would not survive a restart")
			}

			c := sts.Spec.Template.Spec.Containers[0]
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			var members []string
			for i := 0; i < int(*sts.Spec.Replicas); i++ {
				members = append(members, fmt.Sprintf("%s-%d=https://%s-%d.%s:%d", sts.Name, i, sts.Name, i, sts.Spec.ServiceName, containerPort(c, "peer")))
			}
			if got := env["ETCD_INITIAL_CLUSTER"]; got != strings.Join(members, ",") {
				t.Errorf("ETCD_INITIAL_CLUSTER %q, want %q", got, strings.Join(members, ","))
			}
			for _, e := range c.Env {
				if e.Name == "ETCD_NAME" && (e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name") {
					t.Error("ETCD_NAME is not the pod name")
				}
			}
			for k, want := range map[string]string{
				"ETCD_CLIENT_CERT_AUTH":            "true",
				"ETCD_PEER_CLIENT_CERT_AUTH":       "true",
				"ETCD_LISTEN_CLIENT_URLS":          "https://0.0.0.0:2379",
				"ETCD_LISTEN_PEER_URLS":            "https://0.0.0.0:2380",
				"ETCD_ADVERTISE_CLIENT_URLS":       "https://$(ETCD_NAME)." + sts.Spec.ServiceName + ":2379",
				"ETCD_INITIAL_ADVERTISE_PEER_URLS": "https://$(ETCD_NAME)." + sts.Spec.ServiceName + ":2380",
			} {
				if env[k] != want {
					t.Errorf("%s=%q, want %q", k, env[k], want)
				}
			}
			for _, k := range []string{"ETCD_TRUSTED_CA_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE", "ETCD_PEER_TRUSTED_CA_FILE", "ETCD_PEER_CERT_FILE", "ETCD_PEER_KEY_FILE"} {
				m, vol, ok := mountOf(sts.Spec.Template.Spec, c, env[k])
				if !ok || !m.ReadOnly || vol.Secret == nil || vol.Secret.SecretName != "etcd-tls" {
					t.Errorf("%s=%s is not in a read-only mount of Secret etcd-tls", k, env[k])
				}
			}
			if env["ETCD_PEER_CERT_ALLOWED_CN"] == "" {
				t.Error("ETCD_PEER_CERT_ALLOWED_CN unset: any platform certificate could join the cluster as a peer")
			}
			if m, ok := mountHolding(c, env["ETCD_DATA_DIR"]); !ok || m.Name != sts.Spec.VolumeClaimTemplates[0].Name {
				t.Errorf("ETCD_DATA_DIR %s is not on the persistent volume", env["ETCD_DATA_DIR"])
			}
			for kind, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
				if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Port.String() != "metrics" {
					t.Errorf("%s probe: want an HTTP GET on the metrics port", kind)
				}
			}
			if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Errorf("readiness path %s, want /readyz", c.ReadinessProbe.HTTPGet.Path)
			}
			checkResources(t, c)
			pdb := typed[policyv1.PodDisruptionBudget](objs)["etcd"]
			if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Error("want a PodDisruptionBudget with maxUnavailable 1: losing two of three members loses the quorum")
			}
			if o.name == "prod" {
				aff := sts.Spec.Template.Spec.Affinity
				if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 ||
					len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 0 {
					t.Error("prod: members must be on different nodes (required anti-affinity only)")
				}
			}
		})
	}
}

// checkVolumeOwnership: a data volume's ownership is fixed once, not
// recursively at every mount (which would loosen the data directory's
// permissions).
func checkVolumeOwnership(t *testing.T, sts *appsv1.StatefulSet) {
	t.Helper()
	psc := sts.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.FSGroup == nil || psc.FSGroupChangePolicy == nil || *psc.FSGroupChangePolicy != corev1.FSGroupChangeOnRootMismatch {
		t.Errorf("%s: want fsGroup with fsGroupChangePolicy OnRootMismatch", sts.Name)
	}
}
