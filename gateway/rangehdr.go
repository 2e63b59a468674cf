package gateway

import (
	"strconv"
	"strings"

	"github.com/stratagw/strata/backend"
)

// parseRange resolves a Range header against an object's size, with S3's
// behaviour: a missing, syntactically invalid or multi-range header means
// the whole object (nil, nil); a valid single range that selects no byte
// is InvalidRange (416). Forms: "bytes=a-b", "bytes=a-", "bytes=-n".
func parseRange(h string, size int64) (*backend.Range, error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return nil, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		// Suffix range: the last n bytes.
		n, ok := parseRangeInt(last)
		if !ok {
			return nil, nil
		}
		if n == 0 || size == 0 {
			return nil, invalidRange(h, size)
		}
		if n > size {
			n = size
		}
		return &backend.Range{Start: size - n, End: size - 1}, nil
	}
	start, ok := parseRangeInt(first)
	if !ok {
		return nil, nil
	}
	end := size - 1
	if last != "" {
		e, ok := parseRangeInt(last)
		if !ok || e < start {
			return nil, nil
		}
		end = min(e, size-1)
	}
	if start >= size {
		return nil, invalidRange(h, size)
	}
	return &backend.Range{Start: start, End: end}, nil
}

// parseRangeInt parses a non-negative decimal without sign or spaces.
func parseRangeInt(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// invalidRange is the 416 error; S3 names the object size in it.
func invalidRange(requested string, size int64) *APIError {
	return &APIError{Code: ErrInvalidRange, Extra: map[string]string{
		"RangeRequested": requested, "ActualObjectSize": strconv.FormatInt(size, 10)}}
}

// contentRange is the Content-Range header of a partial response.
func contentRange(r backend.Range, size int64) string {
	return "bytes " + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.End, 10) + "/" + strconv.FormatInt(size, 10)
}
