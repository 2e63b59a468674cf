package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAccessKey = "AKIDSTRATATEST"
	testSecret    = "s3cr3t/Key+With=Odd~Chars"
	testRegion    = "eu-test-1"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// testLookup knows one credential.
func testLookup(_ context.Context, ak string) (string, bool, error) {
	if ak == testAccessKey {
		return testSecret, true, nil
	}
	return "", false, nil
}

func newTestVerifier(now time.Time) *Verifier {
	return NewVerifier(testLookup, Options{Now: func() time.Time { return now }})
}

func testCreds(secret string) aws.Credentials {
	return aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: secret}
}

// sdkSigner is the real aws-sdk-go-v2 signer configured as the S3 client
// uses it (S3 paths are not double-escaped).
func sdkSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// signHeader signs r in place with the SDK signer; the payload hash is also
// set as x-amz-content-sha256 so that it is signed like the S3 client does.
func signHeader(t testing.TB, r *http.Request, payloadHash, secret string, at time.Time) {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if err := sdkSigner().SignHTTP(context.Background(), testCreds(secret), r, payloadHash, "s3", testRegion, at); err != nil {
		t.Fatalf("sign: %v", err)
	}
}

// presign returns a presigned URL for r with the SDK signer.
func presign(t testing.TB, r *http.Request, expires string, secret string, at time.Time) string {
	t.Helper()
	q := r.URL.Query()
	q.Set("X-Amz-Expires", expires)
	r.URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	u, _, err := sdkSigner().PresignHTTP(context.Background(), testCreds(secret), r, UnsignedPayload, "s3", testRegion, at)
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	return u
}

// newRequest builds a server-side request as net/http would hand it over.
func newRequest(method, target string, body []byte) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Host = "s3.example.test"
	if body == nil {
		r.ContentLength = 0
	}
	return r
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// wantCode fails unless err is an *Error with the given code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %s (%s), want %s", e.Code, e.Message, code)
	}
	if e.Status == 0 {
		t.Fatalf("error %s has no HTTP status", e.Code)
	}
}

// readBody reads the verified body to the end.
func readBody(a *Auth) ([]byte, error) {
	defer a.Body.Close()
	return io.ReadAll(a.Body)
}

// --- a test-only aws-chunked signer, written from the AWS documentation ---

// specSigner signs aws-chunked bodies independently of the package code.
type specSigner struct {
	key   []byte
	date  string // X-Amz-Date
	scope string
	prev  string
}

func newSpecSigner(secret, date, region, prev string) *specSigner {
	mac := func(k []byte, s string) []byte { m := hmac.New(sha256.New, k); m.Write([]byte(s)); return m.Sum(nil) }
	day := date[:8]
	k := mac(mac(mac(mac([]byte("AWS4"+secret), day), region), "s3"), "aws4_request")
	return &specSigner{key: k, date: date, scope: day + "/" + region + "/s3/aws4_request", prev: prev}
}

func (s *specSigner) sign(sts string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(sts))
	s.prev = hex.EncodeToString(m.Sum(nil))
	return s.prev
}

func (s *specSigner) chunk(data []byte) string {
	return s.sign(strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", s.date, s.scope, s.prev, EmptySHA256, sha256Hex(data)}, "\n"))
}

func (s *specSigner) trailer(lines string) string {
	return s.sign(strings.Join([]string{"AWS4-HMAC-SHA256-TRAILER", s.date, s.scope, s.prev, sha256Hex([]byte(lines))}, "\n"))
}

// trailerKV is one trailer header.
type trailerKV struct{ name, value string }

// signedChunkedBody frames chunks (plus the empty last chunk) with chunk
// signatures; with trailers it appends them and the trailer signature.
func signedChunkedBody(s *specSigner, chunks [][]byte, trailers []trailerKV, withTrailer bool) []byte {
	var b bytes.Buffer
	for _, c := range append(chunks, nil) {
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(c), s.chunk(c))
		b.Write(c)
		if len(c) > 0 || !withTrailer {
			b.WriteString("\r\n")
		}
	}
	if withTrailer {
		var lines strings.Builder
		for _, kv := range trailers {
			fmt.Fprintf(&lines, "%s:%s\n", kv.name, kv.value)
			fmt.Fprintf(&b, "%s:%s\r\n", kv.name, kv.value)
		}
		fmt.Fprintf(&b, "x-amz-trailer-signature:%s\r\n\r\n", s.trailer(lines.String()))
	}
	return b.Bytes()
}

// unsignedChunkedBody frames chunks as STREAMING-UNSIGNED-PAYLOAD-TRAILER.
func unsignedChunkedBody(chunks [][]byte, trailers []trailerKV) []byte {
	var b bytes.Buffer
	for _, c := range chunks {
		fmt.Fprintf(&b, "%x\r\n", len(c))
		b.Write(c)
		b.WriteString("\r\n")
	}
	b.WriteString("0\r\n")
	for _, kv := range trailers {
		fmt.Fprintf(&b, "%s:%s\r\n", kv.name, kv.value)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// seedSignature returns the Signature= of a signed request.
func seedSignature(t testing.TB, r *http.Request) string {
	t.Helper()
	az, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatalf("parse own authorization: %v", err)
	}
	return az.Signature
}
