// Package logx builds kitshop's structured loggers: one JSON object per line
// with a UTC timestamp, the calling file:line and the service name, so every
// process's output can be shipped to the same log pipeline unchanged.
//
// Secrets are dropped at the lowest layer (see Redact): whatever key a caller
// logs, a value under a name such as "password" or "card_number" is replaced
// before it is written. That is a safety net, not a licence: request bodies
// are never logged in the first place.
//
// A logger made here knows its level (DebugEnabled), so that a hot path
// can skip building a debug line that the level would drop anyway:
// go-kit's filter only drops a line after its timestamp and caller have
// been computed and its values boxed.
package logx

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Standard keys, shared so that log queries work the same in every service.
const (
	KeyTime      = "ts"
	KeyCaller    = "caller"
	KeyService   = "service"
	KeyTraceID   = "trace_id"
	KeyRequestID = "request_id"
)

// New returns a JSON logger writing to w. Each line carries ts (RFC 3339
// with nanoseconds, UTC), caller and service. Writes are serialised, so the
// logger is safe for concurrent use even when w is not. It keeps every
// level.
//
// The caller key names the first function on the stack outside go-kit/log
// and this package, so it is right for the returned logger and for any
// logger derived from it (log.With, level.Info, FromContext ...); helpers
// that call Log on a caller's behalf report their own line.
func New(w io.Writer, service string) log.Logger {
	return &leveled{Logger: withStandardKeys(Redact(log.NewJSONLogger(log.NewSyncWriter(w))), service), debug: true}
}

// NewWithLevel is New keeping only entries at lvl or above (see
// WithLevel). The filter sits below the caller key, so lines report their
// real call site rather than the filter's.
func NewWithLevel(w io.Writer, service, lvl string) (log.Logger, error) {
	filtered, err := WithLevel(Redact(log.NewJSONLogger(log.NewSyncWriter(w))), lvl)
	if err != nil {
		return nil, err
	}
	return &leveled{Logger: withStandardKeys(filtered, service), debug: allowsDebug(lvl)}, nil
}

// leveled is a logger from New or NewWithLevel: the go-kit logger with
// the standard keys, and whether its filter lets debug entries through.
type leveled struct {
	log.Logger
	debug bool
}

// DebugEnabled reports whether logger may write debug entries: false only
// for a logger from NewWithLevel whose level is above debug. Any other
// logger (one derived with log.With or level.Debug, or not from this
// package) might keep them, so the answer is true, and a caller skipping
// work on false stays correct. Ask with the logger itself, as built,
// before deriving others from it.
func DebugEnabled(logger log.Logger) bool {
	l, ok := logger.(*leveled)
	return !ok || l.debug
}

func withStandardKeys(base log.Logger, service string) log.Logger {
	return log.With(base,
		KeyTime, log.TimestampFormat(func() time.Time { return time.Now().UTC() }, time.RFC3339Nano),
		KeyCaller, log.Valuer(caller),
		KeyService, service,
	)
}

// caller is the file:line of the first frame outside go-kit/log and this
// package. go-kit's DefaultCaller counts a fixed depth instead, which
// every wrapper (leveled, or a log.With around it) would shift.
func caller() any {
	var pcs [24]uintptr
	n := runtime.Callers(2, pcs[:]) // from this function's caller on
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !isLoggingFrame(f.Function) {
			idx := strings.LastIndexByte(f.File, '/')
			return f.File[idx+1:] + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

func isLoggingFrame(function string) bool {
	for _, p := range loggingPackages {
		if strings.HasPrefix(function, p) {
			return true
		}
	}
	return false
}

// loggingPackages are function name prefixes: a package path followed by
// "." (its functions and methods) or "/" (its subpackages, level).
var loggingPackages = []string{
	"github.com/go-kit/log.", "github.com/go-kit/log/",
	"github.com/kitshop/kitshop/kit/logx.",
}

// WithLevel filters logger so that only entries at lvl or above pass. lvl is
// one of debug, info, warn, error (case-insensitive); "" means info.
// Entries logged without a level always pass: dropping them silently would
// hide output from code that is not level-aware.
func WithLevel(logger log.Logger, lvl string) (log.Logger, error) {
	var opt level.Option
	switch normalLevel(lvl) {
	case "debug":
		opt = level.AllowDebug()
	case "", "info":
		opt = level.AllowInfo()
	case "warn", "warning":
		opt = level.AllowWarn()
	case "error":
		opt = level.AllowError()
	default:
		return nil, fmt.Errorf("logx: unknown log level %q (want debug, info, warn or error)", lvl)
	}
	return level.NewFilter(logger, opt), nil
}

func normalLevel(lvl string) string { return strings.ToLower(strings.TrimSpace(lvl)) }

func allowsDebug(lvl string) bool { return normalLevel(lvl) == "debug" }
