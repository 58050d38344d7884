package k8s

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// endpoint is something that sends or receives traffic in the
// reachability model: a pod (in a namespace, with labels and named
// ports) or, with pod false, an address outside the cluster.
type endpoint struct {
	name      string
	pod       bool
	namespace string
	labels    map[string]string
	ports     []corev1.ContainerPort
}

// policySet evaluates NetworkPolicies the way the API defines them: a pod
// selected by no policy of a direction is open in it; a selected one
// admits only what some rule of those policies allows; a connection needs
// both the sender's egress and the receiver's ingress (each checked only
// for pods in the policies' namespace, the only ones they govern).
type policySet struct {
	namespace string
	policies  []*networkingv1.NetworkPolicy
}

func (ps policySet) allowed(src, dst endpoint, port corev1.ContainerPort) bool {
	return ps.direction(networkingv1.PolicyTypeEgress, src, dst, port) &&
		ps.direction(networkingv1.PolicyTypeIngress, dst, src, port)
}

// direction: may subject (selected by policies) exchange traffic of
// policyType with peer on port (a port of the receiver)?
func (ps policySet) direction(policyType networkingv1.PolicyType, subject, peer endpoint, port corev1.ContainerPort) bool {
	if !subject.pod || subject.namespace != ps.namespace {
		return true
	}
	// The receiver's named ports give named policy ports their meaning.
	receiver := subject
	if policyType == networkingv1.PolicyTypeEgress {
		receiver = peer
	}
	isolated := false
	for _, p := range ps.policies {
		if !hasType(p, policyType) || !matchSelector(&p.Spec.PodSelector, subject.labels) {
			continue
		}
		isolated = true
		if policyType == networkingv1.PolicyTypeIngress {
			for _, r := range p.Spec.Ingress {
				if peersMatch(r.From, peer, ps.namespace) && portsMatch(r.Ports, port, receiver) {
					return true
				}
			}
		} else {
			for _, r := range p.Spec.Egress {
				if peersMatch(r.To, peer, ps.namespace) && portsMatch(r.Ports, port, receiver) {
					return true
				}
			}
		}
	}
	return !isolated
}

// hasType applies the API's default: Ingress always, Egress when the
// policy has egress rules.
func hasType(p *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
	}
	for _, pt := range p.Spec.PolicyTypes {
		if pt == t {
			return true
		}
	}
	return false
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, e endpoint, policyNS string) bool {
	if len(peers) == 0 {
		return true // no from/to: every source or destination
	}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			// Only ever meant for addresses outside the cluster here.
			if !e.pod && p.IPBlock.CIDR == "0.0.0.0/0" {
				return true
			}
		case p.NamespaceSelector != nil:
			if e.pod && matchSelector(p.NamespaceSelector, namespaceLabels(e.namespace)) &&
				(p.PodSelector == nil || matchSelector(p.PodSelector, e.labels)) {
				return true
			}
		case p.PodSelector != nil:
			if e.pod && e.namespace == policyNS && matchSelector(p.PodSelector, e.labels) {
				return true
			}
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, port corev1.ContainerPort, receiver endpoint) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != protocolOf(port) {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type == intstr.Int {
			end := p.Port.IntVal
			if p.EndPort != nil {
				end = *p.EndPort
			}
			if port.ContainerPort >= p.Port.IntVal && port.ContainerPort <= end {
				return true
			}
			continue
		}
		// A named port means the receiver's container port of that name.
		for _, rp := range receiver.ports {
			if rp.Name == p.Port.StrVal && protocolOf(rp) == proto && rp.ContainerPort == port.ContainerPort {
				return true
			}
		}
	}
	return false
}

func protocolOf(p corev1.ContainerPort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

func matchSelector(s *metav1.LabelSelector, l map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(l))
}

// namespaceLabels are the labels the API server puts on every namespace.
func namespaceLabels(ns string) map[string]string {
	return map[string]string{"kubernetes.io/metadata.name": ns}
}
