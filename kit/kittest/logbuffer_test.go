package kittest

import (
	"fmt"
	"sync"
	"testing"
)

func TestLogBufferConcurrentWritesDecode(t *testing.T) {
	var b LogBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				fmt.Fprintf(&b, `{"writer":%d,"n":%d}`+"\n", i, j)
				_ = b.Lines(t) // reads race with the writes under -race if unlocked
			}
		})
	}
	wg.Wait()
	lines := b.Lines(t)
	if len(lines) != 8*50 {
		t.Fatalf("%d lines, want %d", len(lines), 8*50)
	}
	seen := map[float64]int{}
	for _, l := range lines {
		w, ok := l["writer"].(float64)
		if !ok {
			t.Fatalf("line %v has no numeric writer", l)
		}
		seen[w]++
	}
	for i := range 8 {
		if seen[float64(i)] != 50 {
			t.Fatalf("writer %d: %d lines, want 50 (lines interleaved?)", i, seen[float64(i)])
		}
	}
}

func TestLogBufferFindResetString(t *testing.T) {
	var b LogBuffer
	if got := b.Lines(t); got != nil {
		t.Fatalf("empty buffer decodes to %v", got)
	}
	b.Write([]byte("{\"msg\":\"a\",\"n\":1}\n\n{\"msg\":\"b\",\"n\":2}\n{\"msg\":\"b\",\"n\":3}\n"))
	if l := b.Find(t, "msg", "b"); l == nil || l["n"] != float64(2) {
		t.Fatalf("Find(msg, b) = %v, want the first such line (n 2)", l)
	}
	if l := b.Find(t, "msg", "c"); l != nil {
		t.Fatalf("Find(msg, c) = %v, want nil", l)
	}
	if l := b.Find(t, "n", "1"); l != nil {
		t.Fatalf("Find(n, \"1\") = %v: a number must not match a string", l)
	}
	if got := b.String(); got != "{\"msg\":\"a\",\"n\":1}\n\n{\"msg\":\"b\",\"n\":2}\n{\"msg\":\"b\",\"n\":3}\n" {
		t.Fatalf("String = %q", got)
	}
	b.Reset()
	if b.String() != "" || len(b.Lines(t)) != 0 {
		t.Fatalf("after Reset: %q", b.String())
	}
}

func TestLogBufferLinesRejectsNonJSON(t *testing.T) {
	wantFatal(t, func(tb testing.TB) {
		var b LogBuffer
		b.Write([]byte("{\"msg\":\"ok\"}\nlevel=info msg=logfmt\n"))
		b.Lines(tb)
	}, "not JSON", "level=info msg=logfmt")
}
