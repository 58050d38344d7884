package logx

import (
	"fmt"
	"strings"

	"github.com/go-kit/log"
)

// Redacted replaces the value of a secret key.
const Redacted = "[REDACTED]"

// secretKeys are matched exactly after normalisation (lower case, '-' -> '_').
var secretKeys = map[string]bool{
	"card_number":   true,
	"cardnumber":    true,
	"pan":           true,
	"cvc":           true,
	"cvv":           true,
	"authorization": true,
	"token":         true,
	"access_token":  true,
	"refresh_token": true,
	"id_token":      true,
	"jwt":           true,
	"api_key":       true,
	"x_api_key":     true,
	"private_key":   true,
	"cookie":        true,
	"set_cookie":    true,
}

// secretParts are matched as substrings, because these words have many
// spellings (current_password, new_password, client_secret, ...).
var secretParts = []string{"password", "passwd", "secret"}

// IsSecretKey reports whether a log key names a secret whose value must not
// be written.
func IsSecretKey(key string) bool {
	k := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	if secretKeys[k] {
		return true
	}
	for _, p := range secretParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// Redact wraps next so the value of every secret key (see IsSecretKey) is
// replaced with Redacted. It must sit below log.With so that context
// key-values are checked too; New arranges that.
func Redact(next log.Logger) log.Logger {
	return log.LoggerFunc(func(keyvals ...any) error {
		var out []any // copied lazily: keyvals may be shared with a log.With context
		for i := 0; i+1 < len(keyvals); i += 2 {
			if !IsSecretKey(keyString(keyvals[i])) {
				continue
			}
			if out == nil {
				out = append([]any(nil), keyvals...)
			}
			out[i+1] = Redacted
		}
		if out == nil {
			out = keyvals
		}
		return next.Log(out...)
	})
}

func keyString(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	// fmt recovers from a panicking String method, which a logger must survive.
	return fmt.Sprint(k)
}
