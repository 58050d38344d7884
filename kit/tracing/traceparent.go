package tracing

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
)

// TraceparentHeader is the W3C Trace Context header.
const TraceparentHeader = "traceparent"

// Traceparent formats ctx's span as a W3C traceparent value,
// "00-<32 hex trace id>-<16 hex span id>-<01|00>", or "" when ctx carries no
// span.
func Traceparent(ctx context.Context) string {
	sp := zipkin.SpanFromContext(ctx)
	if sp == nil {
		return ""
	}
	return FormatTraceparent(sp.Context())
}

// FormatTraceparent formats sc as a W3C traceparent value, or "" when sc has
// no ids.
func FormatTraceparent(sc model.SpanContext) string {
	if sc.TraceID.Empty() || sc.ID == 0 {
		return ""
	}
	flags := "00"
	if sc.Debug || (sc.Sampled != nil && *sc.Sampled) {
		flags = "01"
	}
	return fmt.Sprintf("00-%016x%016x-%016x-%s", sc.TraceID.High, sc.TraceID.Low, uint64(sc.ID), flags)
}

// ParseTraceparent parses a W3C traceparent value into the caller's span
// context (ID is the caller's span, to be used as parent). It follows the
// spec's rules: lower-case hex only, all-zero ids and version ff invalid,
// and a future version may append fields after the first four.
func ParseTraceparent(v string) (model.SpanContext, bool) {
	// version(2) - trace id(32) - parent id(16) - flags(2)
	const size = 2 + 1 + 32 + 1 + 16 + 1 + 2
	if len(v) < size || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return model.SpanContext{}, false
	}
	version, traceHex, spanHex, flagsHex := v[0:2], v[3:35], v[36:52], v[53:55]
	if !isLowerHex(version) || version == "ff" || !isLowerHex(traceHex) || !isLowerHex(spanHex) || !isLowerHex(flagsHex) {
		return model.SpanContext{}, false
	}
	if version == "00" && len(v) != size {
		return model.SpanContext{}, false
	}
	if version != "00" && len(v) > size && v[size] != '-' {
		return model.SpanContext{}, false
	}
	tid, err := model.TraceIDFromHex(traceHex)
	if err != nil || tid.Empty() {
		return model.SpanContext{}, false
	}
	sid, err := strconv.ParseUint(spanHex, 16, 64)
	if err != nil || sid == 0 {
		return model.SpanContext{}, false
	}
	flags, err := hex.DecodeString(flagsHex)
	if err != nil {
		return model.SpanContext{}, false
	}
	sampled := flags[0]&1 == 1
	return model.SpanContext{TraceID: tid, ID: model.ID(sid), Sampled: &sampled}, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
