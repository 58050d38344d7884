package k8s

import (
	"strings"
	"testing"
)

// TestDecodeStrictRefuses: the decoder the render relies on refuses what
// the API server's strict validation refuses, and what encoding/json
// alone would let through (a field in the wrong case).
func TestDecodeStrictRefuses(t *testing.T) {
	const dep = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"template":{"spec":{"containers":[{"name":"x","image":"i:1"%s}]}}}}`
	if _, err := decodeStrict([]byte(strings.Replace(dep, "%s", "", 1))); err != nil {
		t.Fatalf("a valid Deployment: %v", err)
	}
	for name, extra := range map[string]string{
		"unknown field":   `,"imagePullPolicyy":"Always"`,
		"wrong case":      `,"Image":"i:2"`,
		"duplicate field": `,"image":"i:2"`,
		"wrong type":      `,"ports":"8080"`,
		"bad quantity":    `,"resources":{"limits":{"memory":"lots"}}`,
	} {
		if _, err := decodeStrict([]byte(strings.Replace(dep, "%s", extra, 1))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := decodeStrict([]byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"x"}}`)); err == nil {
		t.Error("an unknown kind: accepted")
	}
	if _, err := decodeStrict([]byte(`{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"x"},"spec":{"secretName":"s","issuerRef":{"name":"i"},"dnsName":["x"]}}`)); err == nil {
		t.Error("a Certificate with a misspelt field: accepted")
	}
}
