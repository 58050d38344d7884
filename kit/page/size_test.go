package page

import (
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
)

func TestSize(t *testing.T) {
	for _, tt := range []struct{ in, want int }{
		{0, DefaultSize},
		{1, 1},
		{DefaultSize + 1, DefaultSize + 1},
		{MaxSize, MaxSize},
		{MaxSize + 1, MaxSize},
		{1 << 40, MaxSize},
	} {
		if got, err := Size(tt.in); err != nil || got != tt.want {
			t.Errorf("Size(%d) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	if DefaultSize != 20 || MaxSize != 100 {
		t.Errorf("limits %d/%d differ from API.md's 20/100", DefaultSize, MaxSize)
	}
	for _, n := range []int{-1, -1 << 40} {
		_, err := Size(n)
		e := errs.As(err)
		if err == nil || e.Kind != errs.InvalidArgument || e.Reason != errs.ReasonValidation ||
			len(e.Fields) != 1 || e.Fields[0].Field != "page_size" {
			t.Errorf("Size(%d): err = %v, want a page_size violation", n, err)
		}
	}
}

func TestCheckSizeJoinsOtherViolations(t *testing.T) {
	var v errs.Validation
	v.Add("q", "too long")
	if got := CheckSize(&v, -5); got != 0 {
		t.Errorf("CheckSize(-5) = %d, want 0", got)
	}
	e := errs.As(v.Err())
	if e == nil || len(e.Fields) != 2 || e.Fields[0].Field != "q" || e.Fields[1].Field != "page_size" {
		t.Fatalf("err = %v, want violations on q then page_size", e)
	}
	var ok errs.Validation
	if got := CheckSize(&ok, 7); got != 7 || ok.Err() != nil {
		t.Errorf("CheckSize(7) = %d with %v", got, ok.Err())
	}
}
