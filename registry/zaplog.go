package main

import (
	"slices"
	"sync/atomic"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger (what etcd logs with) that writes
// through logger, so etcd's messages come out as the same JSON lines as
// everything else, tagged component=etcd, from min up. mute silences it
// for good.
func newZapLogger(logger log.Logger, min zapcore.Level) (zl *zap.Logger, mute func()) {
	muted := &atomic.Bool{}
	zl = zap.New(&kitCore{logger: log.With(logger, "component", "etcd"), min: min, muted: muted})
	return zl, func() { muted.Store(true) }
}

// kitCore is a zapcore.Core over a go-kit logger.
type kitCore struct {
	logger log.Logger
	min    zapcore.Level
	muted  *atomic.Bool
	fields []zapcore.Field
}

// reservedKeys are keys our own log lines use; etcd fields with these
// names are prefixed rather than allowed to overwrite them.
var reservedKeys = []string{"ts", "caller", "service", "component", "level", "msg"}

func (c *kitCore) Enabled(l zapcore.Level) bool { return l >= c.min && !c.muted.Load() }

func (c *kitCore) With(fields []zapcore.Field) zapcore.Core {
	return &kitCore{logger: c.logger, min: c.min, muted: c.muted, fields: append(slices.Clip(c.fields), fields...)}
}

func (c *kitCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *kitCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kv := []any{level.Key(), kitLevel(e.Level), "msg", e.Message}
	for _, k := range keys {
		name := k
		if slices.Contains(reservedKeys, k) {
			name = "etcd_" + k
		}
		kv = append(kv, name, enc.Fields[k])
	}
	return c.logger.Log(kv...)
}

func (c *kitCore) Sync() error { return nil }

func kitLevel(l zapcore.Level) level.Value {
	switch {
	case l <= zapcore.DebugLevel:
		return level.DebugValue()
	case l == zapcore.InfoLevel:
		return level.InfoValue()
	case l == zapcore.WarnLevel:
		return level.WarnValue()
	}
	return level.ErrorValue()
}
