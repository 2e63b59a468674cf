package sigv4

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

// The "Example: PUT Object" of the AWS S3 documentation for
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD (sigv4-streaming): 66560 bytes of 'a'
// in a 64 KiB chunk, a 1 KiB chunk and the empty last chunk, with the
// signatures AWS publishes.
const (
	awsExampleAccessKey = "AKIAIOSFODNN7EXAMPLE"
	awsExampleSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	awsExampleSeed      = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	awsExampleChunk1    = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	awsExampleChunk2    = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	awsExampleFinal     = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
)

func awsExampleBody(corruptChunk2 bool) []byte {
	var b bytes.Buffer
	for _, c := range []struct {
		size int
		sig  string
	}{{65536, awsExampleChunk1}, {1024, awsExampleChunk2}, {0, awsExampleFinal}} {
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", c.size, c.sig)
		data := bytes.Repeat([]byte("a"), c.size)
		if corruptChunk2 && c.size == 1024 {
			data[100] = 'b'
		}
		b.Write(data)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func awsExampleVerify(t *testing.T, body []byte) (*Auth, error) {
	t.Helper()
	r := newRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", body)
	r.Host = "s3.amazonaws.com"
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("Content-Length", "66824")
	r.Header.Set("X-Amz-Content-Sha256", StreamingPayload)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+awsExampleAccessKey+"/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
		"Signature="+awsExampleSeed)
	v := NewVerifier(func(_ context.Context, ak string) (string, bool, error) {
		return awsExampleSecret, ak == awsExampleAccessKey, nil
	}, Options{Now: func() time.Time { return time.Date(2013, 5, 24, 0, 5, 0, 0, time.UTC) }})
	return v.Verify(r)
}

func TestAWSStreamingExample(t *testing.T) {
	body := awsExampleBody(false)
	if len(body) != 66824 {
		t.Fatalf("example body is %d bytes, AWS says 66824", len(body))
	}
	a, err := awsExampleVerify(t, body)
	if err != nil {
		t.Fatalf("verify AWS example: %v", err)
	}
	if a.DecodedContentLength != 66560 || !a.AWSChunked || a.Region != "us-east-1" {
		t.Fatalf("auth = %+v", a)
	}
	got, err := io.ReadAll(iotest.OneByteReader(a.Body))
	if err != nil {
		t.Fatalf("read AWS example body: %v", err)
	}
	if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
		t.Fatalf("decoded %d bytes, want 66560 'a'", len(got))
	}
}

func TestAWSStreamingExampleTampered(t *testing.T) {
	a, err := awsExampleVerify(t, awsExampleBody(true))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	_, err = readBody(a)
	wantCode(t, err, CodeSignatureDoesNotMatch)
}

// The spec signer used by the other tests reproduces AWS's chunk signatures.
func TestSpecSignerMatchesAWSExample(t *testing.T) {
	s := newSpecSigner(awsExampleSecret, "20130524T000000Z", "us-east-1", awsExampleSeed)
	for i, c := range []struct {
		size int
		want string
	}{{65536, awsExampleChunk1}, {1024, awsExampleChunk2}, {0, awsExampleFinal}} {
		if got := s.chunk(bytes.Repeat([]byte("a"), c.size)); got != c.want {
			t.Fatalf("chunk %d signature = %s, want %s", i, got, c.want)
		}
	}
}

// The trailer signature matches the vector of AWS's own signer test suite
// (aws-crt: trailing headers first:1st, second:2nd, third:3rd after the
// example's final chunk).
func TestTrailerSignatureVector(t *testing.T) {
	ts, _ := time.Parse(amzDateFormat, "20130524T000000Z")
	scope := Scope{Date: "20130524", Region: "us-east-1", Service: "s3"}
	s := &chunkSigner{key: deriveKey(awsExampleSecret, scope), time: ts, scope: scope, prev: awsExampleFinal}
	const want = "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"
	if !s.verify(s.trailerStringToSign("first:1st\nsecond:2nd\nthird:3rd\n"), want) {
		t.Fatalf("trailer signature does not match the AWS vector")
	}
	spec := newSpecSigner(awsExampleSecret, "20130524T000000Z", "us-east-1", awsExampleFinal)
	if got := spec.trailer("first:1st\nsecond:2nd\nthird:3rd\n"); got != want {
		t.Fatalf("spec trailer signature = %s, want %s", got, want)
	}
}
