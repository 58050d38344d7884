// Package logx builds kitshop's structured loggers: one JSON object per line
// with a UTC timestamp, the calling file:line and the service name, so every
// process's output can be shipped to the same log pipeline unchanged.
//
// Secrets are dropped at the lowest layer (see Redact): whatever key a caller
// logs, a value under a name such as "password" or "card_number" is replaced
// before it is written. That is a safety net, not a licence: request bodies
// are never logged in the first place.
package logx

import (
	"fmt"
	"io"
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
// logger is safe for concurrent use even when w is not.
//
// The caller key is right when the returned logger (or one derived from it
// with log.With, level.Info, FromContext ...) is called directly; helpers
// that call Log on a caller's behalf report their own line.
func New(w io.Writer, service string) log.Logger {
	return withStandardKeys(Redact(log.NewJSONLogger(log.NewSyncWriter(w))), service)
}

// NewWithLevel is New keeping only entries at lvl or above (see
// WithLevel). The filter sits below the caller key, so lines report their
// real call site rather than the filter's.
func NewWithLevel(w io.Writer, service, lvl string) (log.Logger, error) {
	filtered, err := WithLevel(Redact(log.NewJSONLogger(log.NewSyncWriter(w))), lvl)
	if err != nil {
		return nil, err
	}
	return withStandardKeys(filtered, service), nil
}

func withStandardKeys(base log.Logger, service string) log.Logger {
	return log.With(base,
		KeyTime, log.TimestampFormat(func() time.Time { return time.Now().UTC() }, time.RFC3339Nano),
		KeyCaller, log.DefaultCaller,
		KeyService, service,
	)
}

// WithLevel filters logger so that only entries at lvl or above pass. lvl is
// one of debug, info, warn, error (case-insensitive); "" means info.
// Entries logged without a level always pass: dropping them silently would
// hide output from code that is not level-aware.
func WithLevel(logger log.Logger, lvl string) (log.Logger, error) {
	var opt level.Option
	switch strings.ToLower(strings.TrimSpace(lvl)) {
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
