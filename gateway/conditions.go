package gateway

import (
	"net/http"
	"strings"
	"time"
)

// condResult is the outcome of evaluating conditional request headers.
type condResult int

const (
	condOK           condResult = iota // serve the request
	condNotModified                    // 304 (GET/HEAD only)
	condPrecondition                   // 412
)

// conditions are the four RFC 7232 request preconditions, under whichever
// header names an operation uses (GET: If-Match; CopyObject:
// x-amz-copy-source-if-match, ...).
type conditions struct {
	ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince string
}

// getConditions reads the preconditions of GET/HEAD.
func getConditions(h http.Header) conditions {
	return conditions{
		ifMatch:           h.Get("If-Match"),
		ifNoneMatch:       h.Get("If-None-Match"),
		ifModifiedSince:   h.Get("If-Modified-Since"),
		ifUnmodifiedSince: h.Get("If-Unmodified-Since"),
	}
}

// copySourceConditions reads the x-amz-copy-source-if-* preconditions.
func copySourceConditions(h http.Header) conditions {
	return conditions{
		ifMatch:           h.Get("X-Amz-Copy-Source-If-Match"),
		ifNoneMatch:       h.Get("X-Amz-Copy-Source-If-None-Match"),
		ifModifiedSince:   h.Get("X-Amz-Copy-Source-If-Modified-Since"),
		ifUnmodifiedSince: h.Get("X-Amz-Copy-Source-If-Unmodified-Since"),
	}
}

// evaluate applies S3's precedence: If-Match decides alone when present
// (If-Unmodified-Since is then ignored), else If-Unmodified-Since; then
// If-None-Match decides alone when present (If-Modified-Since ignored),
// else If-Modified-Since. Unparseable dates are ignored, as S3 does.
func (c conditions) evaluate(etag string, modTime time.Time) condResult {
	mod := modTime.UTC().Truncate(time.Second)
	if c.ifMatch != "" {
		if !etagMatches(c.ifMatch, etag) {
			return condPrecondition
		}
	} else if t, ok := parseHTTPTime(c.ifUnmodifiedSince); ok && mod.After(t) {
		return condPrecondition
	}
	if c.ifNoneMatch != "" {
		if etagMatches(c.ifNoneMatch, etag) {
			return condNotModified
		}
	} else if t, ok := parseHTTPTime(c.ifModifiedSince); ok && !mod.After(t) {
		return condNotModified
	}
	return condOK
}

// etagMatches reports whether a comma-separated If-Match/If-None-Match
// list names etag (or is "*").
func etagMatches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "*" || normalizeETag(e) == strings.ToLower(etag) {
			return true
		}
	}
	return false
}

// parseHTTPTime parses the date formats HTTP allows.
func parseHTTPTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	if err != nil {
		if t2, err2 := time.Parse(time.RFC3339, s); err2 == nil {
			return t2.UTC(), true
		}
		return time.Time{}, false
	}
	return t.UTC(), true
}
