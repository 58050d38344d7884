package grpcx

// Unexported pieces the external tests compare or probe.
var (
	NewServerTracing = newServerTracing
	NewClientTracing = newClientTracing
	IDHex            = idHex
	TraceIDHex       = traceIDHex
)

// SpanNameCache reports the span name of each full method name in turn,
// as one server would, and how many names it kept.
func SpanNameCache(fullMethods []string) (names []string, kept int) {
	n := &spanNames{}
	for _, m := range fullMethods {
		names = append(names, n.of(m))
	}
	return names, int(n.size.Load())
}

// MaxSpanNames is how many span names a handler keeps.
const MaxSpanNames = maxSpanNames
