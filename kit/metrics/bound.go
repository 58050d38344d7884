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

// methodBound admits the first MaxMethods methods of each transport and
// keeps the series of each admitted method (and of each transport's
// MethodOther). The admitted set is copied on write and read without a
// lock: after start-up every lookup is a hit, and Start runs on every
// request.
type methodBound struct {
	seen   atomic.Pointer[map[labelKey]*series]
	mu     sync.Mutex
	counts map[string]int // admitted methods per transport; guarded by mu
}

// series is the series of method if it is (or can be) admitted for
// transport, else the series of MethodOther.
func (b *methodBound) series(r *RED, transport, method string) *series {
	if m := b.seen.Load(); m != nil {
		if s, ok := (*m)[labelKey{transport, method}]; ok {
			return s
		}
	}
	return b.admit(r, transport, method)
}

func (b *methodBound) admit(r *RED, transport, method string) *series {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := b.seen.Load(); m != nil {
		if s, ok := (*m)[labelKey{transport, method}]; ok {
			return s
		}
	}
	if b.counts == nil {
		b.counts = map[string]int{}
	}
	key := labelKey{transport, method}
	if b.counts[transport] >= MaxMethods {
		key.method = MethodOther
		if m := b.seen.Load(); m != nil {
			if s, ok := (*m)[key]; ok {
				return s
			}
		}
	} else {
		b.counts[transport]++
	}
	s := newSeries(r, key.transport, key.method)
	b.store(key, s)
	return s
}

// store adds s under key to a copy of the admitted set; mu is held.
func (b *methodBound) store(key labelKey, s *series) {
	old := b.seen.Load()
	next := make(map[labelKey]*series, 1)
	if old != nil {
		next = make(map[labelKey]*series, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	}
	next[key] = s
	b.seen.Store(&next)
}
