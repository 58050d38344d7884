package auth

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/kitshop/kitshop/kit/typed"
)

// LoadPrivateKey reads an Ed25519 private key in PKCS#8 PEM ("PRIVATE
// KEY", as `openssl genpkey -algorithm ed25519` writes it).
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("auth: private key %s: %w", path, err)
	}
	key, err := typed.Cast[ed25519.PrivateKey](parsed)
	if err != nil {
		return nil, fmt.Errorf("auth: private key %s: %T is not an Ed25519 key", path, parsed)
	}
	return key, nil
}

// LoadPublicKey reads an Ed25519 public key in PKIX PEM ("PUBLIC KEY", as
// `openssl pkey -pubout` writes it).
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("auth: public key %s: %w", path, err)
	}
	pub, err := typed.Cast[ed25519.PublicKey](parsed)
	if err != nil {
		return nil, fmt.Errorf("auth: public key %s: %T is not an Ed25519 key", path, parsed)
	}
	return pub, nil
}

func readPEM(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("auth: key %s: no PEM block", path)
	}
	return block.Bytes, nil
}
