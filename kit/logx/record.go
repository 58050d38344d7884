package logx

import (
	"context"
	"sync"
	"sync/atomic"
)

// Record is one request as the transport serving it knows it, carried in
// the request's context from the edge on (WithRecord):
//   - its id (X-Request-ID over HTTP, x-request-id over gRPC);
//   - whether the transport writes the request's one log line (Claim),
//     in which case the endpoint chain, which runs deeper down, writes
//     none of its own (TransportLogs): one line per request per process;
//   - what that line reports but only code deeper down learns: the route
//     template the router matched, the error the request was answered
//     with (NoteError), and the stack of a panic recovered on the way
//     (NotePanic), so that even a panic makes one line, not two.
//
// It takes the place of a bare id in the context at the same cost, one
// allocation per request, so keeping it costs the hot path nothing.
type Record struct {
	// ID is the request id. Set it before the record is shared: it is
	// read without a lock.
	ID string

	state atomic.Int32 // recordOpen, recordClaimed, recordDone

	mu    sync.Mutex
	noted Noted
}

// Noted is what code deeper down noted on a Record for its transport.
type Noted struct {
	Route string // the route template matched
	Err   error  // the error answered
	Stack string // the stack of a recovered panic
}

const (
	recordOpen int32 = iota
	recordClaimed
	recordDone
)

type recordKey struct{}

// WithRecord returns ctx carrying r.
func WithRecord(ctx context.Context, r *Record) context.Context {
	return context.WithValue(ctx, recordKey{}, r)
}

// RecordFrom is the record in ctx, or nil.
func RecordFrom(ctx context.Context) *Record {
	r, _ := ctx.Value(recordKey{}).(*Record)
	return r
}

// Claim says that the caller, a transport, writes this request's line
// and calls Finish when it does; it reports false when another transport
// claimed it first (a second access log around the same request), which
// then writes no line. Claim before handing the request on.
func (r *Record) Claim() bool { return r.state.CompareAndSwap(recordOpen, recordClaimed) }

// SetRoute records the route template the request matched
// ("/api/v1/products/{id}"). Nested routers each match; the innermost,
// which runs last, is the one kept.
func (r *Record) SetRoute(tpl string) {
	r.mu.Lock()
	r.noted.Route = tpl
	r.mu.Unlock()
}

// NoteError records the error the request is answered with; the last one
// noted is kept.
func (r *Record) NoteError(err error) {
	r.mu.Lock()
	r.noted.Err = err
	r.mu.Unlock()
}

// NotePanic records the stack of a panic that a recovery step turned
// into the error answered. Call it only when the transport writes the
// line (TransportLogs); else log the panic yourself.
func (r *Record) NotePanic(stack string) {
	r.mu.Lock()
	r.noted.Stack = stack
	r.mu.Unlock()
}

// Finish ends the record: what was noted, for the transport's line. Work
// still running for the request after it (a goroutine the request left
// behind) logs for itself again (TransportLogs is false).
func (r *Record) Finish() Noted {
	r.state.Store(recordDone)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.noted
}

// KeyStack is the key of a recovered panic's stack in a request's line.
const KeyStack = "stack"

// TransportLogs reports whether ctx's request gets its log line from the
// transport that serves it (a claimed, unfinished Record): code deeper
// down should then add what it knows to the record rather than write a
// line of its own.
func TransportLogs(ctx context.Context) bool {
	r := RecordFrom(ctx)
	return r != nil && r.state.Load() == recordClaimed
}

// NoteError records err on ctx's request, if it has a record.
func NoteError(ctx context.Context, err error) {
	if r := RecordFrom(ctx); r != nil {
		r.NoteError(err)
	}
}
