package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestSDKChecksums uses the SDK's default checksum behaviour (CRC32 sent
// with every PUT) and presigned URLs.
func TestSDKChecksums(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("sums", "")
	ctx := context.Background()
	c := s3.New(s.client.Options(), func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
	})
	data := bytes.Repeat([]byte("checksummed "), 50000)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String("crc"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("PUT with default checksums: %v", err)
	}
	if got := s.get("sums", "crc"); !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes", len(got))
	}

	pc := s3.NewPresignClient(s.client)
	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String("presigned")}, s3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(put.Method, put.URL, bytes.NewReader([]byte("via presigned URL")))
	for k, v := range put.SignedHeader {
		if k != "Host" {
			req.Header[k] = v
		}
	}
	resp, body, e := do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s %s", resp.StatusCode, e.Code, body)
	}
	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sums"), Key: aws.String("presigned")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || string(b) != "via presigned URL" {
		t.Errorf("presigned GET: %d %q", r.StatusCode, b)
	}
}
