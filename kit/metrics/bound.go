package metrics

import (
	"sync"
	"sync/atomic"
)

// MaxMethods is how many distinct method labels one RED records per
// transport. A kitshop service has a few dozen operations; the bound is
// a backstop so that a caller passing something a client controls (a raw
// path, an unknown gRPC method) cannot make a series per request and
// exhaust Prometheus. Methods beyond it are recorded as MethodOther.
const MaxMethods = 256

// MethodOther is the method label of everything beyond MaxMethods (and of
// unknown HTTP methods, see kit/httpx.MethodLabel).
const MethodOther = "OTHER"

type labelKey struct{ transport, method string }

// methodBound admits the first MaxMethods methods of each transport. The
// admitted set is copied on write and read without a lock: after start-up
// every lookup is a hit, and Start runs on every request.
type methodBound struct {
	seen   atomic.Pointer[map[labelKey]struct{}]
	mu     sync.Mutex
	counts map[string]int // admitted methods per transport; guarded by mu
}

// label is method if it is (or can be) admitted for transport, else
// MethodOther.
func (b *methodBound) label(transport, method string) string {
	if b == nil {
		return method // a RED not built by NewRED; nothing to bound with
	}
	if m := b.seen.Load(); m != nil {
		if _, ok := (*m)[labelKey{transport, method}]; ok {
			return method
		}
	}
	return b.admit(transport, method)
}

func (b *methodBound) admit(transport, method string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.seen.Load()
	if old != nil {
		if _, ok := (*old)[labelKey{transport, method}]; ok {
			return method
		}
	}
	if b.counts == nil {
		b.counts = map[string]int{}
	}
	if b.counts[transport] >= MaxMethods {
		return MethodOther
	}
	next := make(map[labelKey]struct{}, 1)
	if old != nil {
		next = make(map[labelKey]struct{}, len(*old)+1)
		for k := range *old {
			next[k] = struct{}{}
		}
	}
	next[labelKey{transport, method}] = struct{}{}
	b.counts[transport]++
	b.seen.Store(&next)
	return method
}
