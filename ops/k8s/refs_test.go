package k8s

import (
	"fmt"
	"reflect"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestReferences: every ConfigMap a pod reads is rendered; every Secret
// it needs is rendered, made by cert-manager, or on the overlay's list of
// Secrets the operator creates, which README documents. A list that is
// off in either direction fails: a new Secret must be documented, a
// documented one must still be used.
func TestReferences(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			objs := render(t, o)
			configMaps := typed[corev1.ConfigMap](objs)
			have := map[string]bool{}
			for name := range typed[corev1.Secret](objs) {
				have[name] = true
			}
			for _, c := range typed[certificate](objs) {
				have[c.Spec.SecretName] = true
			}
			if o.certManager != (len(typed[certificate](objs)) > 0) {
				t.Errorf("cert-manager Certificates rendered: %v, want %v", !o.certManager, o.certManager)
			}
			for _, iss := range typed[issuer](objs) {
				if iss.Spec.CA != nil && !have[iss.Spec.CA.SecretName] {
					t.Errorf("Issuer %s signs with Secret %s, which nothing makes", iss.Name, iss.Spec.CA.SecretName)
				}
			}

			missing := map[string]string{} // Secret -> who needs it
			need := func(who, secret string, optional *bool) {
				if optional != nil && *optional {
					return
				}
				if !have[secret] {
					missing[secret] = who
				}
			}
			for _, w := range workloads(objs) {
				for _, ref := range podRefs(w.pod) {
					switch ref.kind {
					case "ConfigMap":
						if _, ok := configMaps[ref.name]; !ok && !(ref.optional != nil && *ref.optional) {
							t.Errorf("%s reads ConfigMap %s, which is not rendered", w.name, ref.name)
						}
					case "Secret":
						need(w.name, ref.name, ref.optional)
					}
				}
			}
			for _, ing := range typed[networkingv1.Ingress](objs) {
				for _, tls := range ing.Spec.TLS {
					need("Ingress "+ing.Name, tls.SecretName, nil)
				}
			}
			if o.external == nil {
				return
			}
			got := append([]string{}, sortedKeys(missing)...)
			want := append([]string{}, o.external...)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Secrets referenced but not made: %v (needed by %v), want exactly %v (see ops/k8s/README.md, Secrets)", got, missing, want)
			}
		})
	}
}

type podRef struct {
	kind, name string
	optional   *bool
}

// podRefs lists the ConfigMaps and Secrets a pod spec reads.
func podRefs(spec corev1.PodSpec) []podRef {
	var refs []podRef
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			refs = append(refs, podRef{"Secret", v.Secret.SecretName, v.Secret.Optional})
		}
		if v.ConfigMap != nil {
			refs = append(refs, podRef{"ConfigMap", v.ConfigMap.Name, v.ConfigMap.Optional})
		}
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		for _, from := range c.EnvFrom {
			if from.ConfigMapRef != nil {
				refs = append(refs, podRef{"ConfigMap", from.ConfigMapRef.Name, from.ConfigMapRef.Optional})
			}
			if from.SecretRef != nil {
				refs = append(refs, podRef{"Secret", from.SecretRef.Name, from.SecretRef.Optional})
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				refs = append(refs, podRef{"Secret", r.Name, r.Optional})
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				refs = append(refs, podRef{"ConfigMap", r.Name, r.Optional})
			}
		}
	}
	return refs
}

// TestServicesReachPods: every Service selects the pods of one workload
// and targets ports those pods declare; the Ingress points at a Service
// port that exists.
func TestServicesReachPods(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			objs := render(t, o)
			svcs := typed[corev1.Service](objs)
			for _, svc := range svcs {
				var matched []workload
				for _, w := range workloadsWithLabels(objs) {
					if selects(svc.Spec.Selector, w.labels) {
						matched = append(matched, w.workload)
					}
				}
				if len(matched) != 1 {
					t.Errorf("Service %s selects %d workloads, want 1", svc.Name, len(matched))
					continue
				}
				for _, p := range svc.Spec.Ports {
					if !podHasPort(matched[0].pod, p.TargetPort.String()) {
						t.Errorf("Service %s port %s targets %s, which %s does not declare", svc.Name, p.Name, p.TargetPort.String(), matched[0].name)
					}
				}
			}
			for _, ing := range typed[networkingv1.Ingress](objs) {
				for _, rule := range ing.Spec.Rules {
					for _, path := range rule.HTTP.Paths {
						b := path.Backend.Service
						svc, ok := svcs[b.Name]
						if !ok {
							t.Errorf("Ingress %s routes to Service %s, which is not rendered", ing.Name, b.Name)
							continue
						}
						found := false
						for _, p := range svc.Spec.Ports {
							found = found || p.Name == b.Port.Name && b.Port.Name != "" || p.Port == b.Port.Number && b.Port.Number != 0
						}
						if !found {
							t.Errorf("Ingress %s routes to port %+v of Service %s, which has no such port", ing.Name, b.Port, b.Name)
						}
					}
				}
			}
		})
	}
}

type labelledWorkload struct {
	workload
	labels map[string]string
}

func workloadsWithLabels(objs []object) []labelledWorkload {
	var out []labelledWorkload
	for _, w := range podTemplates(objs) {
		out = append(out, labelledWorkload{workload{w.name, w.template.Spec}, w.template.Labels})
	}
	return out
}

func podHasPort(spec corev1.PodSpec, port string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}
