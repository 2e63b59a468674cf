package sigv4

import (
	"bytes"
	"io"
	"strconv"
	"testing"
)

// BenchmarkVerifyHeader measures the signature check of a GET (key cached).
func BenchmarkVerifyHeader(b *testing.B) {
	v := newTestVerifier(testNow)
	r := newRequest("GET", "/bucket/some/key.txt?list-type=2&prefix=a", nil)
	signHeader(b, r, EmptySHA256, testSecret, testNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPayload is 16 MiB of data.
var benchPayload = bytes.Repeat([]byte("0123456789abcdef"), 1<<20)

// BenchmarkSHA256Payload measures streaming a body checked against
// x-amz-content-sha256.
func BenchmarkSHA256Payload(b *testing.B) {
	v := newTestVerifier(testNow)
	hash := sha256Hex(benchPayload)
	b.SetBytes(int64(len(benchPayload)))
	for b.Loop() {
		r := newRequest("PUT", "/bucket/key", benchPayload)
		signHeader(b, r, hash, testSecret, testNow)
		a, err := v.Verify(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, a.Body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignedStreaming measures decoding and verifying 64 KiB signed
// aws-chunked chunks.
func BenchmarkSignedStreaming(b *testing.B) {
	var chunks [][]byte
	for off := 0; off < len(benchPayload); off += 64 << 10 {
		chunks = append(chunks, benchPayload[off:off+64<<10])
	}
	date := testNow.Format(amzDateFormat)
	r := newRequest("PUT", "/bucket/key", nil)
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(benchPayload)))
	signHeader(b, r, StreamingPayload, testSecret, testNow)
	body := signedChunkedBody(newSpecSigner(testSecret, date, testRegion, seedSignature(b, r)), chunks, nil, false)
	v := newTestVerifier(testNow)
	b.SetBytes(int64(len(benchPayload)))
	for b.Loop() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		a, err := v.Verify(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, a.Body); err != nil {
			b.Fatal(err)
		}
	}
}
