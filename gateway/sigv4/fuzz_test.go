package sigv4

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// The fuzz targets feed client-controlled input to every parser. They must
// never panic, never return more payload than the input holds, and only fail
// with *Error values (a client can never cause an internal error).

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024")
	f.Add("AWS4-HMAC-SHA256 Credential=a/20130524/r/s3/aws4_request,SignedHeaders=host,Signature=" + strings.Repeat("0", 64))
	f.Add("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;, Signature=")
	f.Add("AWS4-HMAC-SHA256 ")
	f.Add("Bearer token")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status == 0 {
				t.Fatalf("non-*Error failure: %v", err)
			}
			return
		}
		if !isSignature(a.Signature) || len(a.SignedHeaders) == 0 || a.AccessKey == "" || a.Scope.Region == "" {
			t.Fatalf("accepted an incomplete authorization: %+v", a)
		}
		again := Algorithm + " Credential=" + a.AccessKey + "/" + a.Scope.String() +
			", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
		b, err := ParseAuthorization(again)
		if err != nil || b.AccessKey != a.AccessKey || b.Scope != a.Scope || b.Signature != a.Signature {
			t.Fatalf("re-rendered header does not parse back: %q: %v", again, err)
		}
	})
}

func FuzzPresignedQuery(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDSTRATATEST%2F20261125%2Feu-test-1%2Fs3%2Faws4_request&X-Amz-Date=20261125T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("a", 64))
	f.Add("X-Amz-Expires=-1&X-Amz-Algorithm=x")
	f.Add("a=%zz&b")
	f.Add("AWSAccessKeyId=a&Signature=b&Expires=1")
	f.Add("list-type=2&prefix=a+b%20c;d")
	v := newTestVerifier(testNow)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw)
		if err == nil {
			_ = canonicalQuery(q, qSignature)
			if isPresigned(q) {
				if _, perr := parsePresigned(q); perr != nil {
					var e *Error
					if !errors.As(perr, &e) {
						t.Fatalf("non-*Error failure: %v", perr)
					}
				}
			}
		}
		r := newRequest("GET", "/bucket/key", nil)
		r.URL.RawQuery = raw
		if _, err := v.Verify(r); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("non-*Error failure: %v", err)
			}
		}
	})
}

// fuzzDecode runs the decoder over body and checks the invariants.
func fuzzDecode(t *testing.T, body []byte, cfg chunkedConfig) {
	dec := newChunkedReader(bytes.NewReader(body), cfg)
	var out io.Reader = dec
	if cfg.trailerName != "" {
		sum, _ := newChecksum(cfg.trailerName, true)
		out = newChecksumReader(out, sum, func() (string, error) { return dec.trailerValue(sum) })
	}
	n, err := io.Copy(io.Discard, &holdback{src: out})
	if n > int64(len(body)) {
		t.Fatalf("decoded %d bytes from %d input bytes", n, len(body))
	}
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("non-*Error failure: %v", err)
	}
}

func FuzzChunkedSigned(f *testing.F) {
	date := testNow.Format(amzDateFormat)
	const seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	f.Add(signedChunkedBody(newSpecSigner(testSecret, date, testRegion, seed), [][]byte{[]byte("hello"), []byte("world")}, nil, false), false)
	f.Add(signedChunkedBody(newSpecSigner(testSecret, date, testRegion, seed), [][]byte{[]byte("hello")},
		[]trailerKV{{"x-amz-checksum-crc32", "NhCmhg=="}}, true), true)
	f.Add([]byte("ffffffffffffffff;chunk-signature="+strings.Repeat("0", 64)+"\r\n"), false)
	f.Add([]byte("0;chunk-signature=\r\n\r\n"), true)
	scope := Scope{Date: testNow.Format(scopeDateFormat), Region: testRegion, Service: "s3"}
	key := deriveKey(testSecret, scope)
	f.Fuzz(func(t *testing.T, body []byte, trailer bool) {
		cfg := chunkedConfig{
			signer:   &chunkSigner{key: key, time: testNow, scope: scope, prev: seed},
			maxChunk: 1 << 20,
			trailers: trailer,
		}
		if trailer {
			cfg.trailerName = "x-amz-checksum-crc32"
		}
		fuzzDecode(t, body, cfg)
	})
}

func FuzzChunkedUnsigned(f *testing.F) {
	f.Add(unsignedChunkedBody([][]byte{[]byte("hello")}, []trailerKV{{"x-amz-checksum-crc32", "NhCmhg=="}}))
	f.Add(unsignedChunkedBody([][]byte{[]byte("a"), []byte("b")}, nil))
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n"))
	f.Add([]byte("10000000\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzDecode(t, body, chunkedConfig{maxChunk: 1 << 20, trailers: true, trailerName: "x-amz-checksum-crc32"})
	})
}

func FuzzTrailer(f *testing.F) {
	f.Add("x-amz-checksum-crc32:NhCmhg==\r\n\r\n")
	f.Add("x-amz-checksum-crc32:NhCmhg==\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n")
	f.Add("X-Amz-Checksum-CRC32 :  NhCmhg==  \r\n")
	f.Add(":\r\n\r\n")
	f.Add("x-amz-trailer-signature:" + strings.Repeat("0", 64) + "\r\n\r\n")
	f.Fuzz(func(t *testing.T, section string) {
		if name, _, err := parseTrailerLine(strings.TrimSuffix(section, "\r\n")); err == nil && name != strings.ToLower(name) {
			t.Fatalf("trailer name %q not lower-cased", name)
		}
		fuzzDecode(t, []byte("0\r\n"+section), chunkedConfig{maxChunk: 1 << 20, trailers: true, trailerName: "x-amz-checksum-crc32"})
	})
}
