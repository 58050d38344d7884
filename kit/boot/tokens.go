package boot

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"net"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/sd"
)

// TokenFlags are the settings of a service that verifies customer tokens
// issued by the users service.
type TokenFlags struct {
	PublicKeyFile *string
	JWKSURL       *string
}

// DefineTokenFlags adds -jwt-public-key-file (KITSHOP_JWT_PUBLIC_KEY_FILE)
// and -jwks-url (KITSHOP_JWKS_URL) to fs, for config.ParseService's extra.
func DefineTokenFlags(fs *flag.FlagSet) TokenFlags {
	return TokenFlags{
		PublicKeyFile: config.String(fs, "jwt-public-key-file", "KITSHOP_JWT_PUBLIC_KEY_FILE", "",
			"Ed25519 public key (PKIX PEM) verifying access tokens; overrides the users service's JWKS"),
		JWKSURL: config.String(fs, "jwks-url", "KITSHOP_JWKS_URL", "",
			"JWKS URL verifying access tokens; default: the JWKS of a users instance found in the registry"),
	}
}

// Verifier returns the verifier of customer tokens, with keys from, in
// order: a key file, a fixed JWKS URL, or (the default) the JWKS of
// whichever users instance the registry lists. Under mTLS a JWKS is
// fetched only from a peer whose certificate names users: an etcd entry
// or a URL alone is not trusted to say where the keys are. Without mTLS
// only users instances on loopback are used (see loopbackInstances). The
// registry is consulted
// on each (rare, cached) fetch, so a users service restarted on another
// port is found again.
func (p *Process) Verifier(f TokenFlags) (*auth.Verifier, error) {
	keys, err := p.tokenKeys(f)
	if err != nil {
		return nil, err
	}
	return auth.NewVerifier(keys), nil
}

func (p *Process) tokenKeys(f TokenFlags) (auth.KeySource, error) {
	switch {
	case f.PublicKeyFile != nil && *f.PublicKeyFile != "":
		pub, err := auth.LoadPublicKey(*f.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		_ = level.Info(p.Logger).Log("msg", "verifying tokens with a key file", "file", *f.PublicKeyFile)
		return auth.StaticKeys(pub), nil
	case f.JWKSURL != nil && *f.JWKSURL != "":
		url := *f.JWKSURL
		_ = level.Info(p.Logger).Log("msg", "verifying tokens with a JWKS URL", "url", url)
		return auth.JWKSFromURL(func(context.Context) (string, error) { return url, nil }, p.HTTPClient("users")), nil
	}
	client, err := p.Etcd()
	if err != nil {
		return nil, err
	}
	if client == nil {
		_ = level.Warn(p.Logger).Log("msg", "no registry, KITSHOP_JWT_PUBLIC_KEY_FILE or KITSHOP_JWKS_URL: no token verifies, authenticated calls answer 401")
		return auth.StaticKeys(), nil
	}
	_ = level.Info(p.Logger).Log("msg", "verifying tokens with the JWKS of a registered users instance")
	return auth.JWKSFromURL(func(ctx context.Context) (string, error) {
		insts, err := sd.List(ctx, client, "users")
		if err != nil {
			return "", err
		}
		if p.TLS == nil {
			insts = loopbackInstances(insts)
		}
		if len(insts) == 0 {
			return "", errors.New("no users instance is registered")
		}
		return p.HTTPScheme() + "://" + insts[rand.IntN(len(insts))].HTTPAddr + "/.well-known/jwks.json", nil
	}, p.HTTPClient("users")), nil
}

// loopbackInstances keeps the instances on this machine. Without mTLS an
// etcd entry proves nothing about who serves the keys, so a plaintext
// process only takes keys from where it trusts its internal callers too:
// loopback (gRPC is bound there then, and the registry's etcd listens
// there by default). A users instance registered on another address is
// ignored: verifying tokens with its keys would let whoever wrote the key
// mint an admin token.
func loopbackInstances(insts []sd.Instance) []sd.Instance {
	var out []sd.Instance
	for _, in := range insts {
		host, _, err := net.SplitHostPort(in.HTTPAddr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			out = append(out, in)
		}
	}
	return out
}
