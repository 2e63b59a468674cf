package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestVersitygwStartsAndStops(t *testing.T) {
	srv := Versitygw(t)
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint = %q", srv.Endpoint)
	}
	c := S3Client(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("probe")}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	srv.Stop()
	srv.Stop() // idempotent
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
		t.Fatal("ListBuckets succeeded after Stop")
	}
}

func TestFreeAddr(t *testing.T) {
	a, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("addr = %q", a)
	}
	if p := FreePort(t); p <= 0 {
		t.Fatalf("port = %d", p)
	}
}
