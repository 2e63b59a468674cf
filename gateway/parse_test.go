package gateway

import (
	"bytes"
	"crypto/md5"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		h       string
		size    int64
		want    *backend.Range
		invalid bool
	}{
		{"", 10, nil, false},
		{"bytes=0-4", 10, &backend.Range{Start: 0, End: 4}, false},
		{"bytes=5-", 10, &backend.Range{Start: 5, End: 9}, false},
		{"bytes=-3", 10, &backend.Range{Start: 7, End: 9}, false},
		{"bytes=-30", 10, &backend.Range{Start: 0, End: 9}, false},
		{"bytes=3-100", 10, &backend.Range{Start: 3, End: 9}, false},
		{"bytes=9-9", 10, &backend.Range{Start: 9, End: 9}, false},
		{"bytes=10-", 10, nil, true},
		{"bytes=10-20", 10, nil, true},
		{"bytes=-0", 10, nil, true},
		{"bytes=0-", 0, nil, true},
		{"bytes=-5", 0, nil, true},
		{"bytes=0-1,3-4", 10, nil, false}, // multiple ranges: whole object
		{"bytes=5-2", 10, nil, false},     // invalid syntax: ignored
		{"bytes=a-b", 10, nil, false},
		{"items=0-1", 10, nil, false},
		{"bytes=+1-2", 10, nil, false},
		{"bytes=", 10, nil, false},
		{"bytes=99999999999999999999-", 10, nil, false},
	}
	for _, tt := range tests {
		got, err := parseRange(tt.h, tt.size)
		var ae *APIError
		if tt.invalid {
			if !errors.As(err, &ae) || ae.Code != ErrInvalidRange {
				t.Errorf("parseRange(%q, %d) = %v, %v; want InvalidRange", tt.h, tt.size, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRange(%q, %d): unexpected error %v", tt.h, tt.size, err)
			continue
		}
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("parseRange(%q, %d) = %+v, want %+v", tt.h, tt.size, got, tt.want)
		}
	}
}

func TestValidBucketName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"abc", true}, {"my-bucket.data1", true}, {strings.Repeat("a", 63), true},
		{"ab", false}, {strings.Repeat("a", 64), false}, {"Abc", false}, {"a_b", false},
		{"-abc", false}, {"abc-", false}, {".abc", false}, {"a..b", false}, {"a.-b", false},
		{"a-.b", false}, {"192.168.1.1", false}, {"xn--abc", false}, {"abc-s3alias", false},
		{"abc--ol-s3", false}, {"sthree-abc", false}, {"a b", false}, {"", false},
	}
	for _, tt := range tests {
		if got := validBucketName(tt.name); got != tt.ok {
			t.Errorf("validBucketName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestBackingBucketName(t *testing.T) {
	for _, v := range []string{"abc", strings.Repeat("a", 63), strings.Repeat("a", 51) + ".b.c", strings.Repeat("ab-", 20)} {
		n := backingBucketName(v)
		if len(n) > 63 || !validBucketName(n) {
			t.Errorf("backingBucketName(%q) = %q: not a valid name", v, n)
		}
		if !strings.HasPrefix(v, n[:len(n)-backingIDLen-1]) {
			t.Errorf("backingBucketName(%q) = %q: does not start with the (cut) virtual name", v, n)
		}
	}
	if first, second := backingBucketName("abc"), backingBucketName("abc"); first == second {
		t.Error("two backing names for one bucket are equal: the suffix is not random")
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key  string
		code ErrorCode
	}{
		{"a", ""}, {strings.Repeat("k", 1024), ""}, {"日本/語", ""},
		{strings.Repeat("k", 1025), ErrKeyTooLongError}, {"bad\xff", ErrInvalidURI}, {"", ErrInvalidArgument},
	}
	for _, tt := range tests {
		err := checkKey(tt.key)
		var ae *APIError
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("checkKey(%.20q) = %v", tt.key, err)
		case tt.code != "" && (!errors.As(err, &ae) || ae.Code != tt.code):
			t.Errorf("checkKey(%.20q) = %v, want %s", tt.key, err, tt.code)
		}
	}
}

func TestConditions(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	same := mod.Format(http.TimeFormat)
	tests := []struct {
		c    conditions
		want condResult
	}{
		{conditions{}, condOK},
		{conditions{ifMatch: `"abc"`}, condOK},
		{conditions{ifMatch: `"x", "abc"`}, condOK},
		{conditions{ifMatch: `*`}, condOK},
		{conditions{ifMatch: `"x"`}, condPrecondition},
		{conditions{ifNoneMatch: `"abc"`}, condNotModified},
		{conditions{ifNoneMatch: `"x"`}, condOK},
		{conditions{ifModifiedSince: after}, condNotModified},
		{conditions{ifModifiedSince: same}, condNotModified},
		{conditions{ifModifiedSince: before}, condOK},
		{conditions{ifUnmodifiedSince: before}, condPrecondition},
		{conditions{ifUnmodifiedSince: same}, condOK},
		{conditions{ifUnmodifiedSince: "garbage"}, condOK},
		// S3 precedence: If-Match true wins over If-Unmodified-Since false.
		{conditions{ifMatch: `"abc"`, ifUnmodifiedSince: before}, condOK},
		// If-None-Match false wins over If-Modified-Since true.
		{conditions{ifNoneMatch: `"x"`, ifModifiedSince: after}, condOK},
		{conditions{ifMatch: `"x"`, ifNoneMatch: `"abc"`}, condPrecondition},
	}
	for i, tt := range tests {
		if got := tt.c.evaluate("abc", mod); got != tt.want {
			t.Errorf("%d: %+v.evaluate = %v, want %v", i, tt.c, got, tt.want)
		}
	}
}

func TestS3URLEncode(t *testing.T) {
	tests := map[string]string{
		"a/b c":   "a/b%20c",
		"x+y=z&":  "x%2By%3Dz%26",
		"日":       "%E6%97%A5",
		"~-_.ok/": "~-_.ok/",
	}
	for in, want := range tests {
		if got := s3URLEncode(in); got != want {
			t.Errorf("s3URLEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContinuationTokenRoundTrip(t *testing.T) {
	for _, k := range []string{"a", "dir/日本 +x", strings.Repeat("z", 1024)} {
		got, err := decodeContinuationToken(encodeContinuationToken(k))
		if err != nil || got != k {
			t.Errorf("round trip %q = %q, %v", k, got, err)
		}
	}
	if _, err := decodeContinuationToken("!!!"); err == nil {
		t.Error("garbage token accepted")
	}
}

func TestParseCopySource(t *testing.T) {
	tests := []struct {
		in, bucket, key string
		code            ErrorCode
	}{
		{"b/k", "b", "k", ""},
		{"/b/dir/k%20x", "b", "dir/k x", ""},
		{"b/k%3Fq?versionId=null", "b", "k?q", ""},
		{"b/k?versionId=abc", "", "", ErrNotImplemented},
		{"b", "", "", ErrInvalidArgument},
		{"/b/", "", "", ErrInvalidArgument},
		{"b/%zz", "", "", ErrInvalidArgument},
	}
	for _, tt := range tests {
		b, k, err := parseCopySource(tt.in)
		var ae *APIError
		if tt.code != "" {
			if !errors.As(err, &ae) || ae.Code != tt.code {
				t.Errorf("parseCopySource(%q) err = %v, want %s", tt.in, err, tt.code)
			}
			continue
		}
		if err != nil || b != tt.bucket || k != tt.key {
			t.Errorf("parseCopySource(%q) = %q, %q, %v", tt.in, b, k, err)
		}
	}
}

func TestHostBucket(t *testing.T) {
	g := &Gateway{cfg: Config{Domains: []string{"s3.example.com", "localhost"}}}
	tests := []struct {
		host, bucket string
		ok           bool
	}{
		{"photos.s3.example.com", "photos", true},
		{"photos.s3.example.com:9000", "photos", true},
		{"a.b.s3.example.com", "a.b", true},
		{"s3.example.com", "", false},
		{"127.0.0.1:9000", "", false},
		{"[::1]:9000", "", false},
		{"localhost:9000", "", false},
		{"other.com", "", false},
	}
	for _, tt := range tests {
		b, ok := g.hostBucket(tt.host)
		if b != tt.bucket || ok != tt.ok {
			t.Errorf("hostBucket(%q) = %q, %v; want %q, %v", tt.host, b, ok, tt.bucket, tt.ok)
		}
	}
}

func TestVerifyingReader(t *testing.T) {
	data := []byte("hello, world")
	sum := md5.Sum(data)
	bad := md5.Sum([]byte("other"))
	tests := []struct {
		name string
		body []byte
		size int64
		md5  []byte
		code ErrorCode
	}{
		{"ok", data, int64(len(data)), sum[:], ""},
		{"ok no md5", data, int64(len(data)), nil, ""},
		{"bad md5", data, int64(len(data)), bad[:], ErrBadDigest},
		{"short", data[:5], int64(len(data)), nil, ErrIncompleteBody},
		{"long", data, 5, nil, ErrInvalidRequest},
		{"empty", nil, 0, nil, ""},
	}
	for _, tt := range tests {
		v := newVerifyingReader(bytes.NewReader(tt.body), tt.size, tt.md5)
		_, err := io.Copy(io.Discard, v)
		var ae *APIError
		if tt.code == "" {
			if err != nil || !v.Verified() {
				t.Errorf("%s: err %v verified %v", tt.name, err, v.Verified())
			}
			continue
		}
		if !errors.As(err, &ae) || ae.Code != tt.code || v.Verified() || v.Failure() == nil {
			t.Errorf("%s: err %v, want %s", tt.name, err, tt.code)
		}
	}
}

// TestVerifyingReaderUnread: a zero-length body that the consumer never
// reads is still checked before anyone trusts it.
func TestVerifyingReaderUnread(t *testing.T) {
	empty := md5.Sum(nil)
	if v := newVerifyingReader(bytes.NewReader(nil), 0, empty[:]); !v.Verified() || v.Failure() != nil {
		t.Errorf("empty body with the right MD5: verified %v, failure %v", v.Verified(), v.Failure())
	}
	wrong := md5.Sum([]byte("x"))
	v := newVerifyingReader(bytes.NewReader(nil), 0, wrong[:])
	var ae *APIError
	if err := v.Failure(); !errors.As(err, &ae) || ae.Code != ErrBadDigest || v.Verified() {
		t.Errorf("empty body with a wrong MD5: failure %v", err)
	}
	v = newVerifyingReader(bytes.NewReader([]byte("extra")), 0, nil)
	if err := v.VerifyEmpty(); !errors.As(err, &ae) || ae.Code != ErrInvalidRequest {
		t.Errorf("declared empty, body not: %v", err)
	}
	// The last byte is withheld until the checks pass.
	v = newVerifyingReader(bytes.NewReader([]byte("ab")), 2, wrong[:])
	got, err := io.ReadAll(v)
	if string(got) != "a" || !errors.As(err, &ae) || ae.Code != ErrBadDigest {
		t.Errorf("read %q, %v; want only the first byte and BadDigest", got, err)
	}
}

func TestMetaFromHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Content-Encoding", "aws-chunked,gzip")
	h.Set("X-Amz-Meta-Color", "blue")
	m, err := metaFromHeaders(h)
	if err != nil {
		t.Fatal(err)
	}
	if m.ContentType != defaultContentType || m.ContentEncoding != "gzip" || m.UserMeta["color"] != "blue" {
		t.Errorf("meta = %+v", m)
	}
	h.Set("X-Amz-Meta-Big", strings.Repeat("x", maxUserMetaSize))
	var ae *APIError
	if _, err := metaFromHeaders(h); !errors.As(err, &ae) || ae.Code != ErrMetadataTooLarge {
		t.Errorf("2 KiB+ metadata: err %v, want MetadataTooLarge", err)
	}
}

func TestKeyLocksNoDeadlock(t *testing.T) {
	l := newKeyLocks()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			l.lock("a", "1", "b", "2")()
		}
		close(done)
	}()
	for i := 0; i < 1000; i++ {
		l.lock("b", "2", "a", "1")()
	}
	<-done
	// The same key twice must not self-deadlock.
	l.lock("a", "1", "a", "1")()
	if n := l.size(); n != 0 {
		t.Errorf("%d locks remain after every holder unlocked", n)
	}
}

func TestKeyLocksExclusive(t *testing.T) {
	l := newKeyLocks()
	unlock := l.lock("b", "k")
	got := make(chan struct{})
	go func() {
		l.lock("b", "k")()
		close(got)
	}()
	// A different key is not blocked by the held one.
	l.lock("b", "other")()
	select {
	case <-got:
		t.Fatal("second holder of the same key did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	<-got
}
