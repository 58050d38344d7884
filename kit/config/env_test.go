package config

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	return fs
}

func TestPrecedenceFlagEnvDefault(t *testing.T) {
	fs := newFS()
	s := String(fs, "s", "T_S", "def", "a string")
	i := Int(fs, "i", "T_I", 1, "an int")
	f := Float(fs, "f", "T_F", 0.5, "a float")
	d := Duration(fs, "d", "T_D", time.Second, "a duration")
	b := Bool(fs, "b", "T_B", false, "a bool")
	l := StringList(fs, "l", "T_L", []string{"x"}, "a list")
	untouched := Int(fs, "u", "T_U", 7, "not in env")
	err := ParseLookup(fs, []string{"-i", "42", "-b"}, env(map[string]string{
		"T_S": "from-env", "T_I": "99", "T_F": "0.25", "T_D": "1m30s", "T_B": "false", "T_L": " a , b,, c ",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if *s != "from-env" || *i != 42 || *f != 0.25 || *d != 90*time.Second || !*b || *untouched != 7 {
		t.Fatalf("s=%q i=%d f=%v d=%v b=%v u=%d", *s, *i, *f, *d, *b, *untouched)
	}
	if !reflect.DeepEqual(*l, []string{"a", "b", "c"}) {
		t.Fatalf("list = %q", *l)
	}
}

func TestEmptyEnvMeansUnset(t *testing.T) {
	fs := newFS()
	s := String(fs, "s", "T_S", "def", "")
	i := Int(fs, "i", "T_I", 3, "")
	if err := ParseLookup(fs, nil, env(map[string]string{"T_S": "", "T_I": "  "})); err != nil {
		t.Fatal(err)
	}
	if *s != "def" || *i != 3 {
		t.Fatalf("s=%q i=%d", *s, *i)
	}
}

func TestBadEnvIsAnErrorNamingEveryVariable(t *testing.T) {
	fs := newFS()
	Int(fs, "breaker-failures", "KITSHOP_BREAKER_FAILURES", 5, "")
	Duration(fs, "drain-timeout", "KITSHOP_DRAIN_TIMEOUT", time.Second, "")
	Bool(fs, "debug", "KITSHOP_DEBUG", false, "")
	Float(fs, "rate", "KITSHOP_RATE", 0, "")
	Int(fs, "client-secret-rotation", "KITSHOP_SECRET_N", 0, "")
	err := ParseLookup(fs, nil, env(map[string]string{
		"KITSHOP_BREAKER_FAILURES": "five", "KITSHOP_DRAIN_TIMEOUT": "15", "KITSHOP_DEBUG": "yes",
		"KITSHOP_RATE": "fast", "KITSHOP_SECRET_N": "hunter2",
	}))
	if err == nil {
		t.Fatal("bad environment accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`KITSHOP_BREAKER_FAILURES="five" (for -breaker-failures) is not an integer`,
		`KITSHOP_DRAIN_TIMEOUT="15" (for -drain-timeout) is not a duration`,
		`KITSHOP_DEBUG="yes"`, `KITSHOP_RATE="fast"`, `KITSHOP_SECRET_N=[REDACTED]`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("secret value in error: %s", msg)
	}
}

func TestBadEnvIgnoredWhenFlagGiven(t *testing.T) {
	fs := newFS()
	n := Int(fs, "n", "T_N", 1, "")
	if err := ParseLookup(fs, []string{"-n=2"}, env(map[string]string{"T_N": "junk"})); err != nil {
		t.Fatalf("flag on the command line should win over a bad env: %v", err)
	}
	if *n != 2 {
		t.Fatalf("n = %d", *n)
	}
}

func TestHelpListsEnvAndTypes(t *testing.T) {
	fs := newFS()
	var out bytes.Buffer
	fs.SetOutput(&out)
	Bool(fs, "verbose", "T_V", false, "talk more")
	Duration(fs, "wait", "T_W", 2*time.Second, "how long")
	err := ParseLookup(fs, []string{"-h"}, env(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	help := out.String()
	for _, want := range []string{"talk more (env T_V)", "how long (env T_W) (default 2s)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "panic") {
		t.Errorf("PrintDefaults panicked on the wrapper:\n%s", help)
	}
}

func TestBoolFlagWithoutValue(t *testing.T) {
	fs := newFS()
	b := Bool(fs, "v", "T_V", false, "")
	if err := ParseLookup(fs, []string{"-v", "rest"}, env(nil)); err != nil {
		t.Fatal(err)
	}
	if !*b || fs.Arg(0) != "rest" {
		t.Fatalf("b=%v args=%q", *b, fs.Args())
	}
}

func TestParseUsesProcessEnvironment(t *testing.T) {
	t.Setenv("KITSHOP_TEST_PARSE", "17")
	fs := newFS()
	n := Int(fs, "n", "KITSHOP_TEST_PARSE", 0, "")
	if err := Parse(fs, nil); err != nil || *n != 17 {
		t.Fatalf("n=%d err=%v", *n, err)
	}
}
