package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
)

// signJSON signs a header and payload given as raw JSON, so a test can
// write what no JWT library would.
func signJSON(priv ed25519.PrivateKey, header, payload string) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return input + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(input)))
}

func TestTokensMustBeStrictJSONAndCanonicalBase64(t *testing.T) {
	pub, priv := newKey(t)
	v := NewVerifier(StaticKeys(pub))
	ctx := context.Background()
	now := v.cfg.now().Unix()
	header := `{"alg":"EdDSA","typ":"JWT","kid":"` + KeyID(pub) + `"}`
	claims := func(extra string) string {
		return `{"sub":"` + user1 + `","role":"customer",` + extra + `"iss":"kitshop-users","iat":` +
			itoa(now) + `,"exp":` + itoa(now+600) + `}`
	}
	good := signJSON(priv, header, claims(""))
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatalf("a well-formed token: %v", err)
	}
	for name, tok := range map[string]string{
		"duplicate role": signJSON(priv, header, claims(`"role":"admin",`)),
		"duplicate alg":  signJSON(priv, `{"alg":"none","alg":"EdDSA","kid":"`+KeyID(pub)+`"}`, claims("")),
		"signature bits": flipUnusedBits(good),
		"padded segment": strings.Replace(good, ".", "=.", 1),
		"four segments":  good + ".x",
	} {
		if _, err := v.Verify(ctx, tok); errs.KindOf(err) != errs.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", name, err)
		}
	}
}

// flipUnusedBits changes the last base64url character of the signature so
// that only bits beyond the 64 signature bytes differ: a lenient decoder
// reads the same signature.
func flipUnusedBits(tok string) string {
	last := tok[len(tok)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last)
	return tok[:len(tok)-1] + string(alphabet[i^1])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
