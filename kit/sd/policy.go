package sd

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Policy is how a client calls one method: how many attempts it may make
// and how long each may take. Repeating a call is only safe for reads and
// for writes that carry an idempotency key; everything else uses Once.
type Policy struct {
	// Attempts is the most attempts per call, the first included; 1 means
	// the call is never repeated, not even after an attempt timed out.
	Attempts int
	// AttemptTimeout bounds each attempt. It is cut to the caller's
	// deadline when that comes first, and a timeout the client set itself
	// is what counts against the backend's breaker (the caller's own
	// deadline never does).
	AttemptTimeout time.Duration
}

// The policies kitshop's client packages use.
var (
	// Read is for calls that change nothing.
	Read = Policy{Attempts: 3, AttemptTimeout: 2 * time.Second}
	// Keyed is for writes that carry an idempotency key: the server
	// answers a repeat with the first outcome, so a lost answer can be
	// asked for again.
	Keyed = Policy{Attempts: 3, AttemptTimeout: 5 * time.Second}
	// Once is for writes without a key (CreateUser): a repeat could act
	// twice, so the call is sent once even when its attempt times out.
	Once = Policy{Attempts: 1, AttemptTimeout: 5 * time.Second}
)

func (p Policy) withDefaults() Policy {
	if p.Attempts < 1 {
		p.Attempts = 1
	}
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = 5 * time.Second
	}
	return p
}

// Backoff before retry n (1 for the first retry): exponential from
// backoffBase, capped at backoffMax, with full jitter so that callers
// that failed together do not retry together.
const (
	backoffBase = 20 * time.Millisecond
	backoffMax  = 500 * time.Millisecond
)

func retryBackoff(n int) time.Duration {
	d := backoffBase << min(n-1, 10)
	if d > backoffMax {
		d = backoffMax
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// Budget caps retries at a fraction of the calls made, so that an outage
// cannot multiply a caller's load (a retry storm): every first attempt
// deposits Ratio of a token, every retry withdraws one, and a retry
// without a token is not made. A small reserve (MinPerSecond, refilled
// with time) lets a quiet caller retry at all. This is Finagle's retry
// budget; the same idea is in gRPC's retry throttling.
type Budget struct {
	ratio, minPerSecond, max float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
	now    func() time.Time
}

// BudgetSettings configures NewBudget; the zero value is the default:
// 10% extra load, and one retry a second beyond that.
type BudgetSettings struct {
	Ratio        float64
	MinPerSecond float64
	Now          func() time.Time
}

// NewBudget returns a budget that starts full.
func NewBudget(s BudgetSettings) *Budget {
	if s.Ratio <= 0 {
		s.Ratio = 0.1
	}
	if s.MinPerSecond < 0 {
		s.MinPerSecond = 0
	} else if s.MinPerSecond == 0 {
		s.MinPerSecond = 1
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	// Enough for a burst: ten seconds' reserve or ten retries.
	maxTokens := max(10, 10*s.MinPerSecond)
	return &Budget{ratio: s.Ratio, minPerSecond: s.MinPerSecond, max: maxTokens, tokens: maxTokens, now: s.Now, last: s.Now()}
}

// Deposit records a first attempt.
func (b *Budget) Deposit() {
	b.mu.Lock()
	b.refill()
	b.tokens = min(b.max, b.tokens+b.ratio)
	b.mu.Unlock()
}

// Withdraw reports whether a retry may be made, and if so pays for it.
func (b *Budget) Withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *Budget) refill() {
	now := b.now()
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.max, b.tokens+el*b.minPerSecond)
	}
	b.last = now
}
