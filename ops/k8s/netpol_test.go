package k8s

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Endpoints outside the platform's workloads.
var (
	// internet is any address outside the cluster.
	internet = endpoint{name: "internet", ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 443}}}
	// prometheus and zipkin run in the monitoring namespace.
	prometheus = endpoint{name: "prometheus", pod: true, namespace: "monitoring",
		labels: map[string]string{"app.kubernetes.io/name": "prometheus"},
		ports:  []corev1.ContainerPort{{Name: "web", ContainerPort: 9090}}}
	zipkin = endpoint{name: "zipkin", pod: true, namespace: "monitoring",
		labels: map[string]string{"app.kubernetes.io/name": "zipkin"},
		ports:  []corev1.ContainerPort{{Name: "zipkin", ContainerPort: 9411}}}
	kubeDNS = endpoint{name: "kube-dns", pod: true, namespace: "kube-system",
		labels: map[string]string{"k8s-app": "kube-dns"},
		ports: []corev1.ContainerPort{
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
		}}
)

// expectedReach is every connection the policies must allow, as
// "source -> destination:port". Every other one between these endpoints,
// on any port a destination has, must be denied. "intruder" is a pod
// someone started in the namespace (kubectl run); "impostor" a pod in
// another namespace wearing the gateway's labels.
var expectedReach = []string{
	// The public API, from anywhere.
	"internet -> gateway:http", "prometheus -> gateway:http", "zipkin -> gateway:http",
	"kube-dns -> gateway:http", "impostor -> gateway:http",
	// Metrics.
	"prometheus -> users:http", "prometheus -> products:http", "prometheus -> orders:http",
	"prometheus -> payments:http", "prometheus -> etcd:metrics",
	// The gateway's backends.
	"gateway -> users:grpc", "gateway -> products:grpc", "gateway -> orders:grpc", "gateway -> payments:grpc",
	// The checkout saga, and payments checking the user it charges.
	"orders -> users:grpc", "orders -> products:grpc", "orders -> payments:grpc",
	"payments -> users:grpc",
	// The JWKS.
	"gateway -> users:http", "products -> users:http", "orders -> users:http", "payments -> users:http",
	// The registry.
	"users -> etcd:client", "products -> etcd:client", "orders -> etcd:client", "payments -> etcd:client",
	"gateway -> etcd:client", "etcd -> etcd:peer",
	// Each service's database.
	"users -> postgres:postgres", "products -> postgres:postgres", "orders -> postgres:postgres",
	"payments -> postgres:postgres",
	// Traces.
	"users -> zipkin:zipkin", "products -> zipkin:zipkin", "orders -> zipkin:zipkin",
	"payments -> zipkin:zipkin", "gateway -> zipkin:zipkin",
}

// TestNetworkPolicies evaluates the rendered NetworkPolicies over the
// rendered pods and a few outsiders, and compares every allowed
// connection with expectedReach (plus DNS for every pod in the
// namespace).
func TestNetworkPolicies(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			objs := render(t, o)
			ps := policySet{namespace: o.namespace}
			for _, name := range sortedKeys(typed[networkingv1.NetworkPolicy](objs)) {
				ps.policies = append(ps.policies, typed[networkingv1.NetworkPolicy](objs)[name])
			}
			eps := []endpoint{internet, prometheus, zipkin, kubeDNS,
				{name: "intruder", pod: true, namespace: o.namespace, labels: map[string]string{"app.kubernetes.io/name": "debug"},
					ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
				{name: "impostor", pod: true, namespace: "elsewhere",
					labels: map[string]string{"app.kubernetes.io/name": "gateway", "app.kubernetes.io/part-of": "kitshop"},
					ports:  []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
			}
			want := map[string]bool{}
			for _, e := range expectedReach {
				want[e] = true
			}
			for _, w := range podTemplates(objs) {
				var ports []corev1.ContainerPort
				for _, c := range w.template.Spec.Containers {
					ports = append(ports, c.Ports...)
				}
				eps = append(eps, endpoint{name: w.name, pod: true, namespace: o.namespace, labels: w.template.Labels, ports: ports})
				want[w.name+" -> kube-dns:dns"], want[w.name+" -> kube-dns:dns-tcp"] = true, true
			}
			want["intruder -> kube-dns:dns"], want["intruder -> kube-dns:dns-tcp"] = true, true

			got := map[string]bool{}
			for _, src := range eps {
				for _, dst := range eps {
					if !governed(src, o.namespace) && !governed(dst, o.namespace) {
						continue // neither end is ours: not these policies' business
					}
					for _, port := range dst.ports {
						if ps.allowed(src, dst, port) {
							got[fmt.Sprintf("%s -> %s:%s", src.name, dst.name, port.Name)] = true
						}
					}
				}
			}
			if extra := difference(got, want); len(extra) > 0 {
				t.Errorf("allowed but not expected:\n  %s", strings.Join(extra, "\n  "))
			}
			if missing := difference(want, got); len(missing) > 0 {
				t.Errorf("expected but denied:\n  %s", strings.Join(missing, "\n  "))
			}
		})
	}
}

func governed(e endpoint, ns string) bool { return e.pod && e.namespace == ns }

func difference(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
