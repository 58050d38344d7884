// Package config defines command-line flags that fall back to environment
// variables, and the settings every kitshop process shares (Service).
//
// Precedence is flag, then environment, then default. An environment value
// that does not parse is an error reported by Parse, never silently
// replaced by the default: a typo in KITSHOP_BREAKER_FAILURES must stop the
// process at start-up, not change its behaviour in production.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/logx"
)

// envValue is a flag.Value that remembers which environment variables may
// supply it. Keeping the names inside the flag, rather than in a registry
// beside the FlagSet, means Parse needs nothing but the FlagSet.
type envValue struct {
	flag.Value
	envs []string
	want string // what a valid value looks like, for error messages
}

// String must work on the zero envValue: flag.PrintDefaults builds one to
// find out whether a default is worth printing.
func (v *envValue) String() string {
	if v == nil || v.Value == nil {
		return ""
	}
	return v.Value.String()
}

// IsBoolFlag keeps "-verbose" (without "=true") working for Bool flags.
func (v *envValue) IsBoolFlag() bool {
	if v == nil || v.Value == nil {
		return false
	}
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// bindEnv attaches environment fallbacks to the flag just defined.
func bindEnv(fs *flag.FlagSet, name, want string, envs ...string) {
	f := fs.Lookup(name)
	if f == nil || len(envs) == 0 {
		return
	}
	f.Value = &envValue{Value: f.Value, envs: envs, want: want}
	f.Usage += " (env " + strings.Join(envs, ", then ") + ")"
}

// String defines a string flag name with default def, overridable by the
// environment variable env.
func String(fs *flag.FlagSet, name, env, def, usage string) *string {
	p := fs.String(name, def, usage)
	bindEnv(fs, name, "a string", env)
	return p
}

// Int defines an int flag with an environment fallback.
func Int(fs *flag.FlagSet, name, env string, def int, usage string) *int {
	p := fs.Int(name, def, usage)
	bindEnv(fs, name, "an integer", env)
	return p
}

// Float defines a float64 flag with an environment fallback.
func Float(fs *flag.FlagSet, name, env string, def float64, usage string) *float64 {
	p := fs.Float64(name, def, usage)
	bindEnv(fs, name, "a number", env)
	return p
}

// Duration defines a time.Duration flag ("1.5s", "100ms") with an
// environment fallback.
func Duration(fs *flag.FlagSet, name, env string, def time.Duration, usage string) *time.Duration {
	p := fs.Duration(name, def, usage)
	bindEnv(fs, name, "a duration such as 15s or 1m30s", env)
	return p
}

// Bool defines a bool flag with an environment fallback accepting what
// strconv.ParseBool does (1, t, true, 0, f, false, ...).
func Bool(fs *flag.FlagSet, name, env string, def bool, usage string) *bool {
	p := fs.Bool(name, def, usage)
	bindEnv(fs, name, "a boolean (true or false)", env)
	return p
}

// StringList defines a comma-separated list flag ("a:1, b:2" -> ["a:1",
// "b:2"]; blanks are trimmed and empty items dropped) with an environment
// fallback. Repeating the flag replaces the list rather than appending.
func StringList(fs *flag.FlagSet, name, env string, def []string, usage string) *[]string {
	p := new([]string)
	*p = append([]string(nil), def...)
	fs.Var((*listValue)(p), name, usage)
	bindEnv(fs, name, "a comma-separated list", env)
	return p
}

type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(s string) error {
	*l = SplitList(s)
	return nil
}

// SplitList splits a comma-separated value, trimming blanks and dropping
// empty items.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Parse parses args into fs, then gives every flag defined by this package
// that args did not set the value of its environment variable, if that is
// set and not empty (compose files commonly pass empty variables to mean
// "unset"). Every environment value that fails to parse is reported, all
// at once, in the returned error. A -h or -help in args returns
// flag.ErrHelp, after fs printed its usage.
func Parse(fs *flag.FlagSet, args []string) error {
	return ParseLookup(fs, args, os.LookupEnv)
}

// ParseLookup is Parse reading the environment through lookup, so tests
// need not touch the process environment.
func ParseLookup(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		ev, ok := f.Value.(*envValue)
		if !ok || onCommandLine[f.Name] {
			return
		}
		for _, env := range ev.envs {
			val, ok := lookup(env)
			if !ok || strings.TrimSpace(val) == "" {
				continue
			}
			if err := fs.Set(f.Name, strings.TrimSpace(val)); err != nil {
				errs = append(errs, envError(env, f.Name, val, ev.want))
			}
			return
		}
	})
	return errors.Join(errs...)
}

func envError(env, name, val, want string) error {
	shown := strconv.Quote(val)
	if logx.IsSecretKey(name) || logx.IsSecretKey(env) {
		shown = logx.Redacted
	}
	// flag's own parse errors say only "parse error"; say what is wanted.
	return fmt.Errorf("config: %s=%s (for -%s) is not %s", env, shown, name, want)
}
