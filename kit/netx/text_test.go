package netx_test

import (
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/netx"
)

func TestTextViolation(t *testing.T) {
	for _, c := range []struct {
		name      string
		in        string
		multiline bool
		want      string
	}{
		{"empty", "", false, ""},
		{"ascii", "Blue mug, 350 ml (#1)", false, ""},
		{"unicode", "Zoë’s café — 東京 🍵", false, ""},
		{"U+00A0 just above C1", "a\u00a0b", false, ""},
		{"NUL", "ad\x00min@example.com", true, netx.MsgControlCharacter},
		{"NUL at end", "x\x00", false, netx.MsgControlCharacter},
		{"bell", "a\x07", true, netx.MsgControlCharacter},
		{"escape", "\x1b[31mred", true, netx.MsgControlCharacter},
		{"DEL", "a\x7fb", true, netx.MsgControlCharacter},
		{"C1 NEL", "a\u0085b", true, netx.MsgControlCharacter},
		{"C1 first", "\u0080", true, netx.MsgControlCharacter},
		{"C1 last", "\u009f", true, netx.MsgControlCharacter},
		{"tab single-line", "a\tb", false, netx.MsgControlCharacter},
		{"newline single-line", "a\nb", false, netx.MsgControlCharacter},
		{"tab newline CR multiline", "line one\r\n\tline two", true, ""},
		{"invalid UTF-8", "caf\xe9", true, netx.MsgInvalidUTF8},
		{"truncated UTF-8", "\xe6\x9d", false, netx.MsgInvalidUTF8},
		{"surrogate half", "\xed\xa0\x80", false, netx.MsgInvalidUTF8},
		{"encoded U+FFFD is fine", "\uFFFD", false, ""},
	} {
		if got := netx.TextViolation(c.in, c.multiline); got != c.want {
			t.Errorf("%s: TextViolation(%q, %v) = %q, want %q", c.name, c.in, c.multiline, got, c.want)
		}
	}
}

func TestTextViolationDoesNotAllocate(t *testing.T) {
	s := strings.Repeat("Zoë’s café ", 20)
	if n := testing.AllocsPerRun(100, func() { _ = netx.TextViolation(s, true) }); n != 0 {
		t.Fatalf("%v allocations per call, want 0", n)
	}
}

func BenchmarkTextViolationASCII(b *testing.B) {
	s := "3f2b8c1e-9a4d-4c3b-8f1e-2d6a7b9c0e15"
	for b.Loop() {
		_ = netx.TextViolation(s, false)
	}
}
