package k8s

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
)

// object is one rendered object, decoded into its typed struct.
type object struct {
	APIVersion, Kind, Name, Namespace string
	// Typed points to the k8s.io/api struct (or, for cert-manager, the
	// struct in certmanager_test.go) chosen by apiVersion and kind.
	Typed any
}

func (o object) String() string { return o.Kind + "/" + o.Name }

// decoders name the typed struct of every apiVersion/kind the manifests
// may contain. Anything else is an error: a kind nobody validates is a
// kind nobody meant to ship.
var decoders = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":           func() any { return &networkingv1.Ingress{} },
	"cert-manager.io/v1/Certificate":         func() any { return &certificate{} },
	"cert-manager.io/v1/Issuer":              func() any { return &issuer{} },
}

// decodeStrict decodes one object's JSON into its typed struct the way
// the API server does with strict field validation (sigs.k8s.io/json:
// field names case-sensitive, unknown and duplicate fields refused). A
// misspelt or misplaced field fails here instead of being dropped.
func decodeStrict(raw []byte) (object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return object{}, err
	}
	newTyped, ok := decoders[head.APIVersion+"/"+head.Kind]
	if !ok {
		return object{}, fmt.Errorf("no typed decoder for apiVersion %q kind %q", head.APIVersion, head.Kind)
	}
	typed := newTyped()
	strictErrs, err := sigsjson.UnmarshalStrict(raw, typed, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return object{}, err
	}
	if len(strictErrs) > 0 {
		return object{}, fmt.Errorf("strict decoding: %w", errors.Join(strictErrs...))
	}
	return object{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, Typed: typed}, nil
}

// typed returns the objects of type T by name.
func typed[T any](objs []object) map[string]*T {
	out := map[string]*T{}
	for _, o := range objs {
		if v, ok := o.Typed.(*T); ok {
			out[o.Name] = v
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
