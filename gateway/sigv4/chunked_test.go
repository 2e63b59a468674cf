package sigv4

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// testChunks are three chunks of distinct content: 64 KiB, 64 KiB, 100 B.
func testChunks() [][]byte {
	return [][]byte{
		bytes.Repeat([]byte("A"), 64<<10),
		bytes.Repeat([]byte("B"), 64<<10),
		bytes.Repeat([]byte("C"), 100),
	}
}

func totalLen(chunks [][]byte) int64 {
	var n int64
	for _, c := range chunks {
		n += int64(len(c))
	}
	return n
}

// streamingRequest signs a streaming request with the SDK signer and builds
// its body with build, which gets a spec signer seeded with the request
// signature. decoded < 0 leaves x-amz-decoded-content-length out.
func streamingRequest(t *testing.T, mode string, decoded int64, trailer string, build func(s *specSigner) []byte) *http.Request {
	t.Helper()
	date := testNow.Format(amzDateFormat)
	length := len(build(newSpecSigner(testSecret, date, testRegion, strings.Repeat("0", 64))))
	r := newRequest("PUT", "/bucket/key", bytes.Repeat([]byte{0}, length))
	r.Header.Set("Content-Encoding", "aws-chunked")
	if decoded >= 0 {
		r.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(decoded, 10))
	}
	if trailer != "" {
		r.Header.Set("X-Amz-Trailer", trailer)
	}
	signHeader(t, r, mode, testSecret, testNow)
	body := build(newSpecSigner(testSecret, date, testRegion, seedSignature(t, r)))
	if len(body) != length {
		t.Fatalf("body builder is not deterministic in length: %d vs %d", len(body), length)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r
}

// verifyAndRead runs Verify and reads the body; it returns the payload and
// the first error.
func verifyAndRead(t *testing.T, r *http.Request) (*Auth, []byte, error) {
	t.Helper()
	a, err := newTestVerifier(testNow).Verify(r)
	if err != nil {
		return nil, nil, err
	}
	got, err := readBody(a)
	return a, got, err
}

func TestSignedStreaming(t *testing.T) {
	chunks := testChunks()
	all := bytes.Join(chunks, nil)
	frame := func(s *specSigner) []byte { return signedChunkedBody(s, chunks, nil, false) }
	cases := []struct {
		name    string
		decoded int64
		build   func(s *specSigner) []byte
		code    string
	}{
		{name: "ok", decoded: totalLen(chunks), build: frame},
		{name: "tampered chunk data", decoded: totalLen(chunks), build: func(s *specSigner) []byte {
			b := frame(s)
			i := bytes.IndexByte(b, 'B')
			b[i+1000] = 'X'
			return b
		}, code: CodeSignatureDoesNotMatch},
		{name: "tampered chunk signature", decoded: totalLen(chunks), build: func(s *specSigner) []byte {
			b := frame(s)
			flipHex(b, bytes.Index(b, []byte("chunk-signature="))+len("chunk-signature="))
			return b
		}, code: CodeSignatureDoesNotMatch},
		{name: "reordered chunks", decoded: totalLen(chunks), build: func(s *specSigner) []byte {
			var f [][]byte
			for _, c := range append(chunks, nil) {
				var b bytes.Buffer
				fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n%s\r\n", len(c), s.chunk(c), c)
				f = append(f, b.Bytes())
			}
			f[0], f[1] = f[1], f[0]
			return bytes.Join(f, nil)
		}, code: CodeSignatureDoesNotMatch},
		{name: "dropped chunk", decoded: totalLen(chunks) - int64(len(chunks[1])), build: func(s *specSigner) []byte {
			var b bytes.Buffer
			for i, c := range append(chunks, nil) {
				sig := s.chunk(c)
				if i != 1 {
					fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n%s\r\n", len(c), sig, c)
				}
			}
			return b.Bytes()
		}, code: CodeSignatureDoesNotMatch},
		{name: "final chunk missing", decoded: totalLen(chunks), build: func(s *specSigner) []byte {
			b := frame(s)
			return b[:bytes.LastIndex(b, []byte("0;chunk-signature="))]
		}, code: CodeIncompleteBody},
		{name: "cut inside a chunk", decoded: totalLen(chunks), build: func(s *specSigner) []byte {
			return frame(s)[:70000]
		}, code: CodeIncompleteBody},
		{name: "decoded length too small", decoded: totalLen(chunks) - 1, build: frame, code: CodeInvalidRequest},
		{name: "decoded length too large", decoded: totalLen(chunks) + 1, build: frame, code: CodeIncompleteBody},
		{name: "absurd chunk size", decoded: 10, build: func(*specSigner) []byte {
			return []byte("ffffffffffff;chunk-signature=" + strings.Repeat("0", 64) + "\r\n0123456789\r\n")
		}, code: CodeInvalidRequest},
		{name: "chunk without signature", decoded: 3, build: func(*specSigner) []byte {
			return []byte("3\r\nabc\r\n0\r\n\r\n")
		}, code: CodeInvalidRequest},
		{name: "garbage framing", decoded: 3, build: func(*specSigner) []byte {
			return []byte("hello world\r\n")
		}, code: CodeInvalidRequest},
		{name: "data not followed by CRLF", decoded: 3, build: func(s *specSigner) []byte {
			return []byte(fmt.Sprintf("3;chunk-signature=%s\r\nabcXY", s.chunk([]byte("abc"))))
		}, code: CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := streamingRequest(t, StreamingPayload, tc.decoded, "", tc.build)
			a, got, err := verifyAndRead(t, r)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil || !bytes.Equal(got, all) {
				t.Fatalf("decoded %d bytes (want %d), err %v", len(got), len(all), err)
			}
			if a.DecodedContentLength != totalLen(chunks) || !a.AWSChunked {
				t.Fatalf("auth = %+v", a)
			}
		})
	}
}

func TestSignedStreamingMissingDecodedLength(t *testing.T) {
	r := streamingRequest(t, StreamingPayload, -1, "", func(s *specSigner) []byte {
		return signedChunkedBody(s, [][]byte{[]byte("abc")}, nil, false)
	})
	_, err := newTestVerifier(testNow).Verify(r)
	wantCode(t, err, CodeMissingContentLength)
}

// Streaming works whatever the read sizes of the consumer.
func TestSignedStreamingOneByteReads(t *testing.T) {
	chunks := testChunks()
	r := streamingRequest(t, StreamingPayload, totalLen(chunks), "", func(s *specSigner) []byte {
		return signedChunkedBody(s, chunks, nil, false)
	})
	a, err := newTestVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(iotest.OneByteReader(a.Body))
	if err != nil || !bytes.Equal(got, bytes.Join(chunks, nil)) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

// A consumer reading exactly the decoded length must not receive the whole
// payload when the last data chunk is forged.
func TestSignedStreamingReadFullConsumer(t *testing.T) {
	chunks := testChunks()
	r := streamingRequest(t, StreamingPayload, totalLen(chunks), "", func(s *specSigner) []byte {
		b := signedChunkedBody(s, chunks, nil, false)
		b[bytes.LastIndexByte(b, 'C')] = 'D'
		return b
	})
	a, err := newTestVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, totalLen(chunks))
	n, err := io.ReadFull(a.Body, buf)
	if n == len(buf) {
		t.Fatalf("consumer got the complete forged payload")
	}
	wantCode(t, err, CodeSignatureDoesNotMatch)
}

func TestSignedStreamingTrailer(t *testing.T) {
	chunks := testChunks()
	all := bytes.Join(chunks, nil)
	for _, alg := range checksumAlgs {
		name := "x-amz-checksum-" + alg
		good := checksumB64(t, alg, all)
		bad := checksumB64(t, alg, []byte("other"))
		cases := []struct {
			name  string
			build func(s *specSigner) []byte
			code  string
		}{
			{"ok", func(s *specSigner) []byte {
				return signedChunkedBody(s, chunks, []trailerKV{{name, good}}, true)
			}, ""},
			{"checksum mismatch", func(s *specSigner) []byte {
				return signedChunkedBody(s, chunks, []trailerKV{{name, bad}}, true)
			}, CodeBadDigest},
			{"trailer changed after signing", func(s *specSigner) []byte {
				b := signedChunkedBody(s, chunks, []trailerKV{{name, good}}, true)
				return bytes.Replace(b, []byte(name+":"+good), []byte(name+":"+bad), 1)
			}, CodeSignatureDoesNotMatch},
			{"trailer signature forged", func(s *specSigner) []byte {
				b := signedChunkedBody(s, chunks, []trailerKV{{name, good}}, true)
				i := bytes.Index(b, []byte("x-amz-trailer-signature:")) + len("x-amz-trailer-signature:")
				flipHex(b, i)
				return b
			}, CodeSignatureDoesNotMatch},
			{"trailer missing", func(s *specSigner) []byte {
				return signedChunkedBody(s, chunks, nil, true)
			}, CodeMalformedTrailer},
		}
		for _, tc := range cases {
			t.Run(alg+" "+tc.name, func(t *testing.T) {
				r := streamingRequest(t, StreamingPayloadTrailer, totalLen(chunks), name, tc.build)
				a, got, err := verifyAndRead(t, r)
				if tc.code != "" {
					wantCode(t, err, tc.code)
					return
				}
				if err != nil || !bytes.Equal(got, all) {
					t.Fatalf("decoded %d bytes, err %v", len(got), err)
				}
				if a.Checksum == nil || a.Checksum.Value() != good || !a.Checksum.Trailer {
					t.Fatalf("checksum = %+v", a.Checksum)
				}
			})
		}
	}
}

func TestUnsignedTrailer(t *testing.T) {
	chunks := testChunks()
	all := bytes.Join(chunks, nil)
	for _, alg := range checksumAlgs {
		name := "x-amz-checksum-" + alg
		good := checksumB64(t, alg, all)
		cases := []struct {
			name    string
			trailer string // x-amz-trailer header
			body    []byte
			code    string
		}{
			{"ok", name, unsignedChunkedBody(chunks, []trailerKV{{name, good}}), ""},
			{"ok upper-case trailer name", name, unsignedChunkedBody(chunks, []trailerKV{{strings.ToUpper(name), good}}), ""},
			{"checksum mismatch", name, unsignedChunkedBody(chunks, []trailerKV{{name, checksumB64(t, alg, all[1:])}}), CodeBadDigest},
			{"tampered data", name, bytes.Replace(unsignedChunkedBody(chunks, []trailerKV{{name, good}}), []byte("BBBB"), []byte("BBBX"), 1), CodeBadDigest},
			{"trailer missing", name, unsignedChunkedBody(chunks, nil), CodeMalformedTrailer},
			{"trailer value malformed", name, unsignedChunkedBody(chunks, []trailerKV{{name, "%%%"}}), CodeMalformedTrailer},
			{"trailer not declared", "", unsignedChunkedBody(chunks, []trailerKV{{name, good}}), CodeMalformedTrailer},
			{"trailer line malformed", name, append(unsignedChunkedBody(chunks, nil)[:len(unsignedChunkedBody(chunks, nil))-2], []byte("no colon here\r\n\r\n")...), CodeMalformedTrailer},
			{"truncated", name, unsignedChunkedBody(chunks, []trailerKV{{name, good}})[:100000], CodeIncompleteBody},
			{"signature extension", name, []byte("3;chunk-signature=" + strings.Repeat("0", 64) + "\r\nabc\r\n0\r\n\r\n"), CodeInvalidRequest},
		}
		for _, tc := range cases {
			t.Run(alg+" "+tc.name, func(t *testing.T) {
				r := newRequest("PUT", "/bucket/key", tc.body)
				r.Header.Set("Content-Encoding", "aws-chunked")
				if tc.trailer != "" {
					r.Header.Set("X-Amz-Trailer", tc.trailer)
				}
				signHeader(t, r, StreamingUnsignedTrailer, testSecret, testNow)
				a, got, err := verifyAndRead(t, r)
				if tc.code != "" {
					wantCode(t, err, tc.code)
					return
				}
				if err != nil || !bytes.Equal(got, all) {
					t.Fatalf("decoded %d bytes, err %v", len(got), err)
				}
				if a.DecodedContentLength != -1 || a.Checksum == nil || a.Checksum.Value() != good {
					t.Fatalf("auth = %+v checksum %+v", a, a.Checksum)
				}
			})
		}
	}
}

func TestUnsignedTrailerRefusals(t *testing.T) {
	cases := []struct {
		name    string
		mode    string
		trailer string
		code    string
	}{
		{"two trailers", StreamingUnsignedTrailer, "x-amz-checksum-crc32,x-amz-checksum-sha1", CodeInvalidRequest},
		{"unknown trailer", StreamingUnsignedTrailer, "x-amz-meta-foo", CodeInvalidRequest},
		{"trailer without trailer mode", StreamingPayload, "x-amz-checksum-crc32", CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest("PUT", "/bucket/key", []byte("0\r\n\r\n"))
			r.Header.Set("X-Amz-Trailer", tc.trailer)
			r.Header.Set("X-Amz-Decoded-Content-Length", "0")
			signHeader(t, r, tc.mode, testSecret, testNow)
			_, err := newTestVerifier(testNow).Verify(r)
			wantCode(t, err, tc.code)
		})
	}
}

// Presigned URLs cannot carry streaming payloads (there is no seed).
func TestPresignedStreamingRefused(t *testing.T) {
	r := newRequest("PUT", "http://s3.example.test/bucket/key?X-Amz-Content-Sha256="+StreamingPayload, nil)
	u := presign(t, r, "60", testSecret, testNow)
	_, err := newTestVerifier(testNow).Verify(newRequest("PUT", u, nil))
	wantCode(t, err, CodeInvalidRequest)
}

// flipHex changes the hex digit at b[i] into another hex digit.
func flipHex(b []byte, i int) {
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
}

// Signed aws-chunked through a real net/http server, with Content-Length and
// with Transfer-Encoding: chunked underneath.
func TestSignedStreamingOverTheWire(t *testing.T) {
	srv := verifyServer(t, NewVerifier(testLookup, Options{}))
	chunks := testChunks()
	all := bytes.Join(chunks, nil)
	for _, knownLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", knownLength), func(t *testing.T) {
			now := time.Now().UTC()
			date := now.Format(amzDateFormat)
			length := len(signedChunkedBody(newSpecSigner(testSecret, date, testRegion, strings.Repeat("0", 64)), chunks, nil, false))
			r, err := http.NewRequest("PUT", srv.URL+"/bucket/wire key", nil)
			if err != nil {
				t.Fatal(err)
			}
			if knownLength {
				r.ContentLength = int64(length)
			}
			r.Header.Set("Content-Encoding", "aws-chunked")
			r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(all)))
			signHeader(t, r, StreamingPayload, testSecret, now)
			body := signedChunkedBody(newSpecSigner(testSecret, date, testRegion, seedSignature(t, r)), chunks, nil, false)
			r.Body = io.NopCloser(bytes.NewReader(body))
			code, out := roundTrip(t, r)
			want := fmt.Sprintf("ok %d %s", len(all), sha256Hex(all))
			if code != 200 || out != want {
				t.Fatalf("got %d %q, want %q", code, out, want)
			}
		})
	}
}
