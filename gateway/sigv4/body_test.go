package sigv4

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strconv"
	"testing"
	"testing/iotest"
)

// checksumB64 computes an x-amz-checksum-* value with the standard library
// directly (independent of the package's table).
func checksumB64(t testing.TB, alg string, data []byte) string {
	t.Helper()
	var h hash.Hash
	switch alg {
	case "crc32":
		h = crc32.NewIEEE()
	case "crc32c":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "crc64nvme":
		h = crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5))
	case "sha1":
		h = sha1.New()
	case "sha256":
		h = sha256.New()
	default:
		t.Fatalf("unknown algorithm %s", alg)
	}
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

var checksumAlgs = []string{"crc32", "crc32c", "crc64nvme", "sha1", "sha256"}

func TestPayloadHash(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 10000)
	cases := []struct {
		name    string
		hash    string
		body    []byte // what is sent (payload if nil)
		declare int64  // Content-Length (len(body) if 0)
		code    string // "" = success
	}{
		{name: "sha256 ok", hash: sha256Hex(payload)},
		{name: "unsigned ok", hash: UnsignedPayload},
		{name: "sha256 tampered", hash: sha256Hex(payload), body: append(append([]byte{}, payload[:500]...), append([]byte("X"), payload[501:]...)...), code: CodeXAmzContentSHA256Mismatch},
		{name: "sha256 short body", hash: sha256Hex(payload), body: payload[:1000], declare: int64(len(payload)), code: CodeIncompleteBody},
		{name: "unsigned short body", hash: UnsignedPayload, body: payload[:1000], declare: int64(len(payload)), code: CodeIncompleteBody},
		{name: "empty body", hash: EmptySHA256, body: []byte{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sent := tc.body
			if sent == nil {
				sent = payload
			}
			r := newRequest("PUT", "/bucket/key", sent)
			if tc.declare != 0 {
				r.ContentLength = tc.declare
				r.Header.Set("Content-Length", strconv.FormatInt(tc.declare, 10))
			}
			signHeader(t, r, tc.hash, testSecret, testNow)
			a, err := newTestVerifier(testNow).Verify(r)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			got, err := readBody(a)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil || !bytes.Equal(got, sent) {
				t.Fatalf("body: %d bytes, %v", len(got), err)
			}
		})
	}
}

// A consumer that reads exactly Content-Length bytes (io.ReadFull) and never
// asks for EOF must still not get a complete payload that failed.
func TestReadFullConsumerNeverGetsUnverifiedPayload(t *testing.T) {
	payload := []byte("the quick brown fox jumps over the lazy dog")
	tampered := append([]byte{}, payload...)
	tampered[len(tampered)-1] = 'G'
	r := newRequest("PUT", "/bucket/key", tampered)
	signHeader(t, r, sha256Hex(payload), testSecret, testNow)
	a, err := newTestVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(payload))
	n, err := io.ReadFull(a.Body, buf)
	if n == len(payload) {
		t.Fatalf("consumer received all %d bytes of a tampered payload", n)
	}
	wantCode(t, err, CodeXAmzContentSHA256Mismatch)
}

func TestHoldbackWithTinyReads(t *testing.T) {
	payload := bytes.Repeat([]byte("abc"), 1000)
	r := newRequest("PUT", "/bucket/key", payload)
	signHeader(t, r, sha256Hex(payload), testSecret, testNow)
	a, err := newTestVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(iotest.OneByteReader(a.Body))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
	if err := iotest.TestReader(&holdback{src: bytes.NewReader(payload)}, payload); err != nil {
		t.Fatal(err)
	}
}

func TestHeaderChecksums(t *testing.T) {
	payload := []byte("checksummed payload")
	for _, alg := range checksumAlgs {
		for _, good := range []bool{true, false} {
			name := alg + map[bool]string{true: " ok", false: " mismatch"}[good]
			t.Run(name, func(t *testing.T) {
				value := checksumB64(t, alg, payload)
				if !good {
					value = checksumB64(t, alg, []byte("something else"))
				}
				r := newRequest("PUT", "/bucket/key", payload)
				r.Header.Set("X-Amz-Checksum-"+alg, value)
				signHeader(t, r, UnsignedPayload, testSecret, testNow)
				a, err := newTestVerifier(testNow).Verify(r)
				if err != nil {
					t.Fatal(err)
				}
				_, err = readBody(a)
				if !good {
					wantCode(t, err, CodeBadDigest)
					return
				}
				if err != nil || a.Checksum == nil || a.Checksum.Value() != value {
					t.Fatalf("err %v, checksum %+v", err, a.Checksum)
				}
			})
		}
	}
}

func TestHeaderChecksumMalformed(t *testing.T) {
	r := newRequest("PUT", "/bucket/key", []byte("x"))
	r.Header.Set("X-Amz-Checksum-Crc32", "not base64!")
	signHeader(t, r, UnsignedPayload, testSecret, testNow)
	_, err := newTestVerifier(testNow).Verify(r)
	wantCode(t, err, CodeInvalidRequest)

	r = newRequest("PUT", "/bucket/key", []byte("x"))
	r.Header.Set("X-Amz-Checksum-Crc32", checksumB64(t, "crc32", []byte("x")))
	r.Header.Set("X-Amz-Checksum-Sha256", checksumB64(t, "sha256", []byte("x")))
	signHeader(t, r, UnsignedPayload, testSecret, testNow)
	_, err = newTestVerifier(testNow).Verify(r)
	wantCode(t, err, CodeInvalidRequest)
}

// On CompleteMultipartUpload the checksum header is the whole object's; the
// verifier must leave it alone.
func TestCompleteMultipartChecksumHeaderIgnored(t *testing.T) {
	body := []byte("<CompleteMultipartUpload/>")
	r := newRequest("POST", "/bucket/key?uploadId=xyz", body)
	r.Header.Set("X-Amz-Checksum-Crc32", checksumB64(t, "crc32", []byte("the object")))
	signHeader(t, r, sha256Hex(body), testSecret, testNow)
	a, err := newTestVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readBody(a); err != nil {
		t.Fatalf("complete body: %v", err)
	}
}
