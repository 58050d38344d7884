package k8s

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// workload is a pod template and whose it is.
type workload struct {
	name string
	pod  corev1.PodSpec
}

func workloads(objs []object) []workload {
	var out []workload
	for _, name := range sortedKeys(typed[appsv1.Deployment](objs)) {
		out = append(out, workload{name, typed[appsv1.Deployment](objs)[name].Spec.Template.Spec})
	}
	for _, name := range sortedKeys(typed[appsv1.StatefulSet](objs)) {
		out = append(out, workload{name, typed[appsv1.StatefulSet](objs)[name].Spec.Template.Spec})
	}
	return out
}

// TestPodSecurity: every pod, kitshop's and the infrastructure's, meets
// the restricted Pod Security Standard (the overlays' namespaces enforce
// it, so a pod that does not would be refused at apply time) and more:
// a read-only root filesystem, no service account token, no service links.
func TestPodSecurity(t *testing.T) {
	uids := map[string]int64{"postgres": 999} // the image's postgres user
	for _, o := range overlays {
		objs := render(t, o)
		if o.namespace != "" {
			ns := typed[corev1.Namespace](objs)[o.namespace]
			if ns == nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("%s: Namespace %s does not enforce the restricted Pod Security Standard", o.name, o.namespace)
			}
		}
		for _, w := range workloads(objs) {
			t.Run(o.name+"/"+w.name, func(t *testing.T) {
				uid, ok := uids[w.name]
				if !ok {
					uid = nonRootUID
				}
				checkPodSecurity(t, w.pod, uid)
			})
		}
	}
}

func checkPodSecurity(t *testing.T, spec corev1.PodSpec, uid int64) {
	t.Helper()
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("shares a host namespace")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false: nothing here calls the Kubernetes API")
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Error("enableServiceLinks is not false: etcd and postgres read such variables as settings")
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != uid {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser %d", psc, uid)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccompProfile is not RuntimeDefault")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", c.Name)
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: root filesystem is writable", c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s: runs as root", c.Name)
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities %+v, want drop ALL and add none", c.Name, sc.Capabilities)
		}
	}
}

type namedTemplate struct {
	name     string
	template corev1.PodTemplateSpec
}

// podTemplates are the workloads' pod templates, labels included.
func podTemplates(objs []object) []namedTemplate {
	var out []namedTemplate
	for _, d := range typed[appsv1.Deployment](objs) {
		out = append(out, namedTemplate{d.Name, d.Spec.Template})
	}
	for _, s := range typed[appsv1.StatefulSet](objs) {
		out = append(out, namedTemplate{s.Name, s.Spec.Template})
	}
	return out
}
