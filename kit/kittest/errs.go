package kittest

import (
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
)

// WantErr fails the test unless err classifies (errs.As) as kind with
// reason, and returns the classified error for checks on its message,
// metadata or field violations.
func WantErr(t testing.TB, err error, kind errs.Kind, reason string) *errs.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %v %s", kind, reason)
	}
	e := errs.As(err)
	if e.Kind != kind || e.Reason != reason {
		t.Fatalf("got %v %s (%v), want %v %s", e.Kind, e.Reason, err, kind, reason)
	}
	return e
}
