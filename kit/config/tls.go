package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// maxDeregisterGrace catches a typo such as 15m for 1.5s: a grace longer
// than this would outlast any orchestrator's termination period (30 s by
// default in Kubernetes), and the process would be killed mid-drain.
const maxDeregisterGrace = time.Minute

// validateTLS checks that the TLS files are given all together or not at
// all, and that they load: a CA bundle with at least one certificate, and
// a certificate whose private key matches. Finding out at start-up, with
// the flag named, beats a handshake failure on the first call.
func (s *Service) validateTLS() []error {
	set := map[string]string{"-tls-ca": s.TLSCA, "-tls-cert": s.TLSCert, "-tls-key": s.TLSKey}
	var given, missing []string
	for _, name := range []string{"-tls-ca", "-tls-cert", "-tls-key"} {
		if set[name] != "" {
			given = append(given, name)
		} else {
			missing = append(missing, name)
		}
	}
	if len(given) == 0 {
		return nil
	}
	if len(missing) > 0 {
		return []error{fmt.Errorf("config: %v set without %v: mTLS needs all three (KITSHOP_TLS_CA, KITSHOP_TLS_CERT, KITSHOP_TLS_KEY) or none", given, missing)}
	}
	var errs []error
	if pem, err := os.ReadFile(s.TLSCA); err != nil {
		errs = append(errs, fmt.Errorf("config: -tls-ca: %w", err))
	} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		errs = append(errs, fmt.Errorf("config: -tls-ca %s holds no PEM certificate", s.TLSCA))
	}
	if _, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey); err != nil {
		var pe *os.PathError
		if !errors.As(err, &pe) {
			// tls's own messages are about the contents; name the files.
			err = fmt.Errorf("%s and %s: %w", s.TLSCert, s.TLSKey, err)
		}
		errs = append(errs, fmt.Errorf("config: -tls-cert/-tls-key: %w", err))
	}
	return errs
}

// tlsSummary is the TLS setting for logs: the file paths (never their
// contents), or "off".
func (s Service) tlsSummary() string {
	if !s.UsesTLS() {
		return "off"
	}
	return fmt.Sprintf("ca=%s cert=%s key=%s", s.TLSCA, s.TLSCert, s.TLSKey)
}
