package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// signingKey is the file users signs tokens with under make run: one
// Ed25519 key (PKCS#8 PEM, as KITSHOP_JWT_KEY_FILE wants) kept beside the
// development CA and reused across runs. Without it each users process
// generates a key of its own, so restarting users (ops/rollout restart,
// a second instance through the control socket) would make every token
// issued so far fail with 401: the new instance neither signs with nor
// publishes the old key. A developer's own KITSHOP_JWT_KEY_FILE wins.
func signingKey(dir string) (string, error) {
	if own := strings.TrimSpace(os.Getenv("KITSHOP_JWT_KEY_FILE")); own != "" {
		return own, nil
	}
	path := filepath.Join(dir, "jwt-key.pem")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("development signing key: %w", err)
	}
	return path, nil
}

// keyEnv is what gives process p the platform's signing key.
func (f *fleet) keyEnv(p process) []string {
	if p.name != "users" || f.signingKey == "" {
		return nil
	}
	return []string{"KITSHOP_JWT_KEY_FILE=" + f.signingKey}
}
