package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// logWriter receives memberlist's log lines (it logs through a *log.Logger
// with "[LEVEL] memberlist: ..." prefixes) and writes them to slog at the
// matching level, so the node has one log stream.
type logWriter struct{ l *slog.Logger }

// levelPrefixes maps memberlist's level tags to slog levels.
var levelPrefixes = []struct {
	tag   string
	level slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERROR]", slog.LevelError},
	{"[ERR]", slog.LevelError},
}

// Write logs each line of p; it never fails, so memberlist never sees an
// error from its logger.
func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		level, msg := parseLogLine(string(line))
		w.l.Log(context.Background(), level, msg)
	}
	return len(p), nil
}

// parseLogLine splits a memberlist log line into its level and message.
// Lines without a known tag are logged at info.
func parseLogLine(line string) (slog.Level, string) {
	line = strings.TrimSpace(line)
	level := slog.LevelInfo
	for _, p := range levelPrefixes {
		if strings.HasPrefix(line, p.tag) {
			level = p.level
			line = strings.TrimSpace(line[len(p.tag):])
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	return level, line
}
