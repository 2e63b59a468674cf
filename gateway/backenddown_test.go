package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestBackendDown stops the s3 backend in the middle of a PUT: the client
// gets 503 ServiceUnavailable and no record is committed; reads of
// existing objects fail with 503 while their records stay listed.
func TestBackendDown(t *testing.T) {
	s := newStack(t, stackOptions{})
	vgw, region := s.addVersitygwBackend("vgw")
	s.createBucket("fragile", region)
	s.put("fragile", "before", []byte("stored before the outage"))
	ctx := context.Background()

	const size = 4 << 20
	data := bytes.Repeat([]byte("m"), size)
	sum := sha256.Sum256(data)
	pr, pw := io.Pipe()
	r := s.rawRequest("PUT", "/fragile/midway", nil)
	sign(t, r, data, testAccessKey, testSecretKey, time.Now())
	if r.Header.Get("X-Amz-Content-Sha256") != hex.EncodeToString(sum[:]) {
		t.Fatal("payload hash not set")
	}
	r.Body = pr
	r.ContentLength = size
	go func() {
		_, _ = pw.Write(data[:1<<20])
		time.Sleep(300 * time.Millisecond)
		vgw.Stop()
		_, _ = pw.Write(data[1<<20:])
		_ = pw.Close()
	}()
	resp, _, e := do(t, r)
	if resp.StatusCode != 503 || e.Code != "ServiceUnavailable" {
		t.Errorf("PUT while the backend dies: %d %s (%s)", resp.StatusCode, e.Code, e.Message)
	}

	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("fragile")})
	if err != nil {
		t.Fatalf("listing (served from the index) while the backend is down: %v", err)
	}
	if keysOf(out.Contents) != "before" {
		t.Errorf("records after the failed PUT: %s", keysOf(out.Contents))
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("fragile"), Key: aws.String("after"), Body: bytes.NewReader([]byte("x"))})
	if code := errorCode(err); code != "ServiceUnavailable" {
		t.Errorf("PUT with the backend down: %s", code)
	}
	_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("fragile"), Key: aws.String("before")})
	if code := errorCode(err); code != "ServiceUnavailable" {
		t.Errorf("GET with the backend down: %s", code)
	}
	if _, ok, _ := s.srv.State().Object("fragile", "after"); ok {
		t.Error("record committed for a PUT the backend never stored")
	}
}
