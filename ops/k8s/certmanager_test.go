package k8s

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// certificate and issuer are the part of cert-manager.io/v1 these
// manifests use, field for field as cert-manager's API spells them.
// Importing cert-manager for its types would pull its whole dependency
// tree into this module; decoding strictly into this subset still refuses
// any field that is misspelt or that the manifests were not meant to set.
type certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              certificateSpec `json:"spec"`
}

type certificateSpec struct {
	SecretName  string           `json:"secretName"`
	CommonName  string           `json:"commonName,omitempty"`
	IsCA        bool             `json:"isCA,omitempty"`
	Duration    *metav1.Duration `json:"duration,omitempty"`
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
	DNSNames    []string         `json:"dnsNames,omitempty"`
	URIs        []string         `json:"uris,omitempty"`
	IPAddresses []string         `json:"ipAddresses,omitempty"`
	Usages      []string         `json:"usages,omitempty"`
	PrivateKey  *struct {
		Algorithm      string `json:"algorithm,omitempty"`
		Size           int    `json:"size,omitempty"`
		Encoding       string `json:"encoding,omitempty"`
		RotationPolicy string `json:"rotationPolicy,omitempty"`
	} `json:"privateKey,omitempty"`
	IssuerRef struct {
		Name  string `json:"name"`
		Kind  string `json:"kind,omitempty"`
		Group string `json:"group,omitempty"`
	} `json:"issuerRef"`
}

type issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SelfSigned *struct{} `json:"selfSigned,omitempty"`
		CA         *struct {
			SecretName string `json:"secretName"`
		} `json:"ca,omitempty"`
	} `json:"spec"`
}
