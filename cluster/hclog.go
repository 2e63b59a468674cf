package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// slogTrace is the slog level hclog's Trace maps to (below Debug).
const slogTrace = slog.LevelDebug - 4

// hclogAdapter lets raft (which logs through hclog) write to the node's
// slog logger, so that strata has one log stream and one format.
type hclogAdapter struct {
	// base carries the component; l adds the sub-logger's name.
	base *slog.Logger
	l    *slog.Logger
	name string
	args []any
	// level is shared by every logger derived with With/Named, like
	// hclog's own loggers; hclog.NoLevel means "whatever slog enables".
	level *atomic.Int32
}

var _ hclog.Logger = (*hclogAdapter)(nil)

// newHclogAdapter returns an hclog.Logger writing to l under name.
func newHclogAdapter(l *slog.Logger, name string) *hclogAdapter {
	lvl := &atomic.Int32{}
	lvl.Store(int32(hclog.NoLevel))
	base := l.With("component", name)
	return &hclogAdapter{base: base, l: base, name: name, level: lvl}
}

// slogLevel maps hclog levels to slog levels.
func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slogTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// enabled reports whether a record at level would be written.
func (a *hclogAdapter) enabled(level hclog.Level) bool {
	if min := hclog.Level(a.level.Load()); min != hclog.NoLevel && level < min {
		return false
	}
	return a.l.Enabled(context.Background(), slogLevel(level))
}

// Log writes one record; hclog.Format values are expanded like hclog does.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if !a.enabled(level) {
		return
	}
	attrs := make([]any, 0, len(a.args)+len(args))
	attrs = append(attrs, a.args...)
	for _, v := range args {
		if f, ok := v.(hclog.Format); ok && len(f) > 0 {
			if s, ok := f[0].(string); ok {
				v = fmt.Sprintf(s, f[1:]...)
			}
		}
		attrs = append(attrs, v)
	}
	a.l.Log(context.Background(), slogLevel(level), msg, attrs...)
}

// Trace logs at trace level.
func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }

// Debug logs at debug level.
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }

// Info logs at info level.
func (a *hclogAdapter) Info(msg string, args ...any) { a.Log(hclog.Info, msg, args...) }

// Warn logs at warn level.
func (a *hclogAdapter) Warn(msg string, args ...any) { a.Log(hclog.Warn, msg, args...) }

// Error logs at error level.
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

// IsTrace reports whether trace records are written.
func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }

// IsDebug reports whether debug records are written.
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }

// IsInfo reports whether info records are written.
func (a *hclogAdapter) IsInfo() bool { return a.enabled(hclog.Info) }

// IsWarn reports whether warn records are written.
func (a *hclogAdapter) IsWarn() bool { return a.enabled(hclog.Warn) }

// IsError reports whether error records are written.
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

// ImpliedArgs returns the key/value pairs added with With.
func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

// With returns a logger that adds args to every record.
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), args...)
	return &c
}

// Name is the logger's name ("raft", "raft.transport", …).
func (a *hclogAdapter) Name() string { return a.name }

// Named returns a sub-logger whose name is appended to this one's.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

// ResetNamed returns a sub-logger with exactly name.
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	c.l = a.base.With("subsystem", name)
	return &c
}

// SetLevel sets a minimum level on top of the slog handler's own.
func (a *hclogAdapter) SetLevel(level hclog.Level) { a.level.Store(int32(level)) }

// GetLevel returns the minimum level set with SetLevel (NoLevel if none).
func (a *hclogAdapter) GetLevel() hclog.Level { return hclog.Level(a.level.Load()) }

// StandardLogger returns a log.Logger writing info records.
func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo)
}

// StandardWriter returns a writer whose lines become info records.
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(opts).Writer()
}
