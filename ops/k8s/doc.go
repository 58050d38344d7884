// Package k8s holds kitshop's Kubernetes manifests (base/, components/,
// overlays/) and, in its tests, their offline validation: every overlay
// is rendered with kustomize's Go API, every object is decoded strictly
// into its k8s.io/api type (unknown or duplicate fields refused, as the
// API server's strict field validation does), and the properties the
// platform relies on are asserted: probes, graceful termination,
// resources, security contexts, disruption budgets, autoscalers, the
// network policies' reachability, certificates and references.
//
//	cd ops/k8s && go test ./...
//
// It is its own module so that kustomize and k8s.io/api stay out of the
// platform's dependency tree.
package k8s
