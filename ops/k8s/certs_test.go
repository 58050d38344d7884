package k8s

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// TestCertificates checks the cert-manager component where it is used:
// each program's certificate names it as kit/tlsx expects and serves
// both ends of mTLS; etcd's names the registry and every member; the CA
// chain is complete; the token key suits KITSHOP_JWT_KEY_FILE and
// never silently rotates.
func TestCertificates(t *testing.T) {
	for _, o := range overlays {
		if !o.certManager {
			continue
		}
		t.Run(o.name, func(t *testing.T) {
			objs := render(t, o)
			certs := typed[certificate](objs)
			issuers := typed[issuer](objs)
			bySecret := map[string]*certificate{}
			for _, c := range certs {
				if prev, dup := bySecret[c.Spec.SecretName]; dup {
					t.Errorf("Certificates %s and %s both write Secret %s", prev.Name, c.Name, c.Spec.SecretName)
				}
				bySecret[c.Spec.SecretName] = c
				checkCertificateFields(t, c, issuers)
			}
			for _, p := range programs {
				c := bySecret[p.name+"-tls"]
				if c == nil {
					t.Errorf("no Certificate writes %s-tls", p.name)
					continue
				}
				checkServiceCert(t, c, p.name)
			}

			etcd := bySecret["etcd-tls"]
			sts := typed[appsv1.StatefulSet](objs)["etcd"]
			if etcd == nil || sts == nil {
				t.Fatal("no etcd Certificate or StatefulSet")
			}
			// kit/boot dials etcd expecting the registry's identity.
			checkServiceCert(t, etcd, "registry")
			for i := 0; i < int(*sts.Spec.Replicas); i++ {
				member := fmt.Sprintf("%s-%d.%s", sts.Name, i, sts.Spec.ServiceName)
				if !slices.Contains(etcd.Spec.DNSNames, member) {
					t.Errorf("etcd certificate does not name member %s, which peers dial", member)
				}
			}
			for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "ETCD_PEER_CERT_ALLOWED_CN" && e.Value != etcd.Spec.CommonName {
					t.Errorf("ETCD_PEER_CERT_ALLOWED_CN %q, but the etcd certificate's CN is %q", e.Value, etcd.Spec.CommonName)
				}
			}
			for _, p := range programs {
				if c := bySecret[p.name+"-tls"]; c != nil && c.Spec.CommonName == etcd.Spec.CommonName {
					t.Errorf("%s's certificate has etcd's CN: it could join etcd as a peer", p.name)
				}
			}

			jwt := bySecret["users-jwt"]
			if jwt == nil {
				t.Fatal("no Certificate writes users-jwt")
			}
			if pk := jwt.Spec.PrivateKey; pk == nil || pk.Algorithm != "Ed25519" || pk.Encoding != "PKCS8" || pk.RotationPolicy != "Never" {
				t.Errorf("users-jwt key %+v: want Ed25519, PKCS8 (KITSHOP_JWT_KEY_FILE), rotationPolicy Never", jwt.Spec.PrivateKey)
			}

			// The CA issuer signs with a CA certificate made here.
			for _, iss := range issuers {
				if iss.Spec.CA == nil {
					continue
				}
				ca := bySecret[iss.Spec.CA.SecretName]
				if ca == nil || !ca.Spec.IsCA {
					t.Errorf("Issuer %s signs with %s, which no CA Certificate writes", iss.Name, iss.Spec.CA.SecretName)
				}
			}
		})
	}
}

// checkServiceCert: exactly one kitshop URI SAN (kit/tlsx refuses a
// certificate naming two services), server and client usage.
func checkServiceCert(t *testing.T, c *certificate, service string) {
	t.Helper()
	var kitshop []string
	for _, u := range c.Spec.URIs {
		if strings.HasPrefix(u, "spiffe://kitshop/") {
			kitshop = append(kitshop, u)
		}
	}
	if len(kitshop) != 1 || kitshop[0] != "spiffe://kitshop/"+service {
		t.Errorf("Certificate %s names %v, want exactly spiffe://kitshop/%s", c.Name, kitshop, service)
	}
	for _, u := range []string{"server auth", "client auth"} {
		if !slices.Contains(c.Spec.Usages, u) {
			t.Errorf("Certificate %s lacks usage %q: every program is both a server and a client", c.Name, u)
		}
	}
	if c.Spec.IsCA {
		t.Errorf("Certificate %s is a CA", c.Name)
	}
	if c.Spec.Duration != nil && c.Spec.RenewBefore != nil && c.Spec.RenewBefore.Duration < 7*24*time.Hour {
		t.Errorf("Certificate %s renews %v before expiry: programs read it at start, so leave weeks for a rollout", c.Name, c.Spec.RenewBefore.Duration)
	}
}

// checkCertificateFields: values cert-manager accepts, and an issuer
// that exists.
func checkCertificateFields(t *testing.T, c *certificate, issuers map[string]*issuer) {
	t.Helper()
	if c.Spec.SecretName == "" {
		t.Errorf("Certificate %s has no secretName", c.Name)
	}
	valid := []string{"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
		"data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
		"client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
		"ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"}
	for _, u := range c.Spec.Usages {
		if !slices.Contains(valid, u) {
			t.Errorf("Certificate %s: usage %q is not one cert-manager knows", c.Name, u)
		}
	}
	if pk := c.Spec.PrivateKey; pk != nil {
		if !slices.Contains([]string{"RSA", "ECDSA", "Ed25519"}, pk.Algorithm) ||
			pk.Encoding != "" && !slices.Contains([]string{"PKCS1", "PKCS8"}, pk.Encoding) ||
			pk.RotationPolicy != "" && !slices.Contains([]string{"Never", "Always"}, pk.RotationPolicy) {
			t.Errorf("Certificate %s: private key %+v is not valid for cert-manager", c.Name, *pk)
		}
		if pk.Algorithm == "ECDSA" && !slices.Contains([]int{0, 256, 384, 521}, pk.Size) {
			t.Errorf("Certificate %s: ECDSA size %d", c.Name, pk.Size)
		}
	}
	ref := c.Spec.IssuerRef
	if ref.Kind != "Issuer" || ref.Group != "cert-manager.io" || issuers[ref.Name] == nil {
		t.Errorf("Certificate %s: issuerRef %+v names no Issuer here", c.Name, ref)
	}
	if c.Spec.Duration != nil && c.Spec.RenewBefore != nil && c.Spec.RenewBefore.Duration >= c.Spec.Duration.Duration {
		t.Errorf("Certificate %s renews before it is issued", c.Name)
	}
}
