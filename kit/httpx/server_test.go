package httpx

import (
	"testing"
	"time"
)

// TestRequestCapLeavesTimeToAnswer: a request cut off by the router's cap
// must still be answered 504. When the cap equalled WriteTimeout, the
// connection could no longer be written by then, and a client waiting on
// a frozen database got an empty reply after 60 s.
func TestRequestCapLeavesTimeToAnswer(t *testing.T) {
	if margin := WriteTimeout - MaxRequestTimeout; margin < 5*time.Second {
		t.Fatalf("MaxRequestTimeout %v leaves %v before WriteTimeout %v; want at least 5s to write the 504",
			MaxRequestTimeout, margin, WriteTimeout)
	}
	if DefaultTimeout >= MaxRequestTimeout {
		t.Fatalf("DefaultTimeout %v is not below the router's cap %v", DefaultTimeout, MaxRequestTimeout)
	}
}

// TestIdleConnectionsAreShortLived: an idle keep-alive connection holds a
// place of the listener's limit; it gives it back within half a minute.
func TestIdleConnectionsAreShortLived(t *testing.T) {
	if s := NewServer(":0", nil); s.IdleTimeout <= 0 || s.IdleTimeout > 30*time.Second {
		t.Fatalf("IdleTimeout %v, want (0, 30s]", s.IdleTimeout)
	}
}
