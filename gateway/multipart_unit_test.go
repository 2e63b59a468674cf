package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestMultipartETag(t *testing.T) {
	// S3's rule, computed independently: md5 over the binary part md5s.
	a, b := md5.Sum([]byte("a")), md5.Sum([]byte("b"))
	want := md5.Sum(append(a[:], b[:]...))
	got, err := multipartETag([]string{hex.EncodeToString(a[:]), hex.EncodeToString(b[:])})
	if err != nil {
		t.Fatal(err)
	}
	if got != hex.EncodeToString(want[:])+"-2" {
		t.Fatalf("multipartETag = %s, want %x-2", got, want)
	}
	if _, err := multipartETag([]string{"not-hex"}); err == nil {
		t.Fatal("multipartETag accepted a non-MD5 part ETag")
	}
}

func codeOf(err error) ErrorCode {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err == nil {
		return ""
	}
	return "non-API: " + ErrorCode(err.Error())
}

func TestParseCompleteRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want ErrorCode
		n    int
	}{
		{"ok", `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part><Part><ETag>y</ETag><PartNumber>3</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`, "", 2},
		{"no namespace", `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`, "", 1},
		{"empty list", `<CompleteMultipartUpload></CompleteMultipartUpload>`, ErrMalformedXML, 0},
		{"empty body", ``, ErrMalformedXML, 0},
		{"not xml", `{"parts":[]}`, ErrMalformedXML, 0},
		{"truncated", `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>`, ErrMalformedXML, 0},
		{"bad number", `<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`, ErrMalformedXML, 0},
		{"descending", `<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>x</ETag></Part><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`, ErrInvalidPartOrder, 0},
		{"duplicate", `<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>x</ETag></Part><Part><PartNumber>2</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`, ErrInvalidPartOrder, 0},
		{"zero", `<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`, ErrInvalidPart, 0},
		{"too high", `<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`, ErrInvalidPart, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := parseCompleteRequest(strings.NewReader(tt.body))
			if got := codeOf(err); got != tt.want {
				t.Fatalf("error code %q, want %q (err %v)", got, tt.want, err)
			}
			if err == nil && len(parts) != tt.n {
				t.Fatalf("%d parts, want %d", len(parts), tt.n)
			}
		})
	}
	big := strings.NewReader("<CompleteMultipartUpload>" + strings.Repeat(" ", maxCompleteBody) + "</CompleteMultipartUpload>")
	if _, err := parseCompleteRequest(big); codeOf(err) != ErrMalformedXML {
		t.Fatalf("oversized body: %v, want MalformedXML", err)
	}
}

func TestPlanComplete(t *testing.T) {
	const mib = 1 << 20
	rec := []fsm.Part{
		{Number: 1, Size: 5 * mib, ETag: md5hex("1"), BackendETag: "be1"},
		{Number: 2, Size: 5 * mib, ETag: md5hex("2"), BackendETag: "be2"},
		{Number: 3, Size: 1, ETag: md5hex("3"), BackendETag: "be3"},
		{Number: 5, Size: 4 * mib, ETag: md5hex("5"), BackendETag: "be5"},
	}
	p := func(n int, etag string) completePart { return completePart{PartNumber: n, ETag: etag} }
	tests := []struct {
		name   string
		listed []completePart
		want   ErrorCode
	}{
		{"all with quotes", []completePart{p(1, `"`+md5hex("1")+`"`), p(2, md5hex("2")), p(3, md5hex("3"))}, ""},
		{"subset, small last", []completePart{p(1, md5hex("1")), p(5, md5hex("5"))}, ""},
		{"upper-case etag", []completePart{p(1, strings.ToUpper(md5hex("1")))}, ""},
		{"wrong etag", []completePart{p(1, md5hex("x"))}, ErrInvalidPart},
		{"missing part", []completePart{p(1, md5hex("1")), p(4, md5hex("4"))}, ErrInvalidPart},
		{"small middle part", []completePart{p(1, md5hex("1")), p(3, md5hex("3")), p(5, md5hex("5"))}, ErrEntityTooSmall},
		{"small first part", []completePart{p(5, md5hex("5"))}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := planComplete(tt.listed, rec)
			if got := codeOf(err); got != tt.want {
				t.Fatalf("error code %q, want %q (err %v)", got, tt.want, err)
			}
			if err != nil {
				return
			}
			var total int64
			for i, lp := range tt.listed {
				if plan.backendParts[i].Number != lp.PartNumber || plan.backendParts[i].ETag != fmt.Sprintf("be%d", lp.PartNumber) {
					t.Errorf("backend part %d = %+v", i, plan.backendParts[i])
				}
				total += plan.sizes[i]
			}
			if total != plan.total {
				t.Errorf("total %d, sizes sum to %d", plan.total, total)
			}
			if !strings.HasSuffix(plan.etag, fmt.Sprintf("-%d", len(tt.listed))) {
				t.Errorf("etag %s lacks the part count", plan.etag)
			}
		})
	}
}

func TestParseCopySourceRange(t *testing.T) {
	tests := []struct {
		h     string
		size  int64
		want  *backend.Range
		n     int64
		code  ErrorCode
		whole bool
	}{
		{h: "", size: 10, n: 10, whole: true},
		{h: "bytes=0-9", size: 10, want: &backend.Range{Start: 0, End: 9}, n: 10},
		{h: "bytes=3-3", size: 10, want: &backend.Range{Start: 3, End: 3}, n: 1},
		{h: "bytes=0-10", size: 10, code: ErrInvalidRange},
		{h: "bytes=10-12", size: 10, code: ErrInvalidRange},
		{h: "bytes=5-4", size: 10, code: ErrInvalidArgument},
		{h: "bytes=-3", size: 10, code: ErrInvalidArgument},
		{h: "bytes=3-", size: 10, code: ErrInvalidArgument},
		{h: "bytes=+1-2", size: 10, code: ErrInvalidArgument},
		{h: "0-1", size: 10, code: ErrInvalidArgument},
		{h: "bytes=0-1,2-3", size: 10, code: ErrInvalidArgument},
		{h: "bytes=0-0", size: 0, code: ErrInvalidRange},
	}
	for _, tt := range tests {
		rng, n, err := parseCopySourceRange(tt.h, tt.size)
		if got := codeOf(err); got != tt.code {
			t.Errorf("%q: code %q, want %q", tt.h, got, tt.code)
			continue
		}
		if err != nil {
			continue
		}
		if n != tt.n || (tt.whole != (rng == nil)) || (rng != nil && *rng != *tt.want) {
			t.Errorf("%q: range %+v size %d, want %+v size %d", tt.h, rng, n, tt.want, tt.n)
		}
	}
}

func FuzzCompleteMultipartUpload(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber>`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		parts, err := parseCompleteRequest(bytes.NewReader(data))
		if err != nil {
			switch codeOf(err) {
			case ErrMalformedXML, ErrInvalidPartOrder, ErrInvalidPart:
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(parts) == 0 || len(parts) > maxPartNumber {
			t.Fatalf("accepted %d parts", len(parts))
		}
		for i, p := range parts {
			if p.PartNumber < 1 || p.PartNumber > maxPartNumber || (i > 0 && p.PartNumber <= parts[i-1].PartNumber) {
				t.Fatalf("accepted part list %+v", parts)
			}
		}
	})
}

func FuzzCopySourceRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=-3", "bytes=5-", "bytes=0-1,2-3", "bytes=", "bytes=9223372036854775806-9223372036854775807"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		rng, n, err := parseCopySourceRange(h, size)
		if err != nil {
			if c := codeOf(err); c != ErrInvalidArgument && c != ErrInvalidRange {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if rng == nil {
			if n != size {
				t.Fatalf("whole-object copy of %d bytes sized %d", size, n)
			}
			return
		}
		if rng.Start < 0 || rng.End < rng.Start || rng.End >= size || n != rng.End-rng.Start+1 {
			t.Fatalf("range %+v (n=%d) outside object of %d bytes", *rng, n, size)
		}
	})
}

// TestKeepAliveBody serves a keep-alive body through a real HTTP server
// and checks that spaces arrive before the outcome is known (they are
// flushed, not buffered) and that the document follows them.
func TestKeepAliveBody(t *testing.T) {
	done := make(chan completeOutcome, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := newKeepAliveBody(done, 20*time.Millisecond, func(out completeOutcome) []byte {
			return []byte("<Done/>")
		})
		defer body.Close()
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, body)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Read at least three spaces while the outcome is still pending.
	buf := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("reading keep-alive spaces: %v", err)
	}
	if string(buf) != "   " {
		t.Fatalf("keep-alive bytes %q, want spaces", buf)
	}
	done <- completeOutcome{}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimLeft(string(rest), " "); got != "<Done/>" {
		t.Fatalf("document after spaces = %q", got)
	}
}
