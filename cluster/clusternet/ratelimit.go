package clusternet

import (
	"sync"
	"time"
)

// logLimiter lets one log line per key through per interval and counts
// what it held back. A refused peer retries every few hundred milliseconds
// (raft heartbeats, the autopilot), and one line a minute says as much as
// thousands would.
type logLimiter struct {
	every   time.Duration
	maxKeys int // bounds memory when many hosts misbehave
	now     func() time.Time

	mu   sync.Mutex
	seen map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

// overflowKey collects every key beyond maxKeys, so a flood from many
// hosts still logs once per interval.
const overflowKey = "\x00overflow"

func newLogLimiter(every time.Duration, maxKeys int) *logLimiter {
	return &logLimiter{every: every, maxKeys: maxKeys, now: time.Now, seen: make(map[string]*limitEntry)}
}

// allow reports whether a line for key may be logged now and, if so, how
// many lines for it were held back since the last one.
func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e, ok := l.seen[key]
	if !ok {
		if len(l.seen) >= l.maxKeys {
			l.prune(now)
		}
		if len(l.seen) >= l.maxKeys {
			key = overflowKey
			e, ok = l.seen[key]
		}
		if !ok {
			l.seen[key] = &limitEntry{last: now}
			return true, 0
		}
	}
	if now.Sub(e.last) < l.every {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// prune forgets keys whose interval has passed; the lines they held back
// are lost, which only costs a count in the next log line.
func (l *logLimiter) prune(now time.Time) {
	for k, e := range l.seen {
		if now.Sub(e.last) >= l.every {
			delete(l.seen, k)
		}
	}
}
