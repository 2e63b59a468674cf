package gateway_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/internal/testenv"
	"github.com/stratagw/strata/server"
)

// startNodeAt starts a bootstrapped node on dir (which may hold the state
// of an earlier run) with the given upload expiry.
func startNodeAt(t *testing.T, dir string, key []byte, expiry time.Duration) (*server.Server, *s3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		NodeID: "n1", DataDir: dir, S3Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		Bootstrap: true, ClusterKey: key, AdminAccessKey: testAccessKey, AdminSecretKey: testSecretKey,
		DevBackend: true, UploadExpiry: expiry,
	})
	if err != nil {
		t.Fatalf("start strata: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client := testenv.S3Client(t, testenv.S3Server{Endpoint: srv.S3URL(), AccessKey: testAccessKey, SecretKey: testSecretKey, Region: testRegion})
	return srv, client
}

// TestUploadReaper leaves an upload behind, restarts the node with a tiny
// upload expiry and checks that the reaper aborts it: no upload record and
// an empty fs staging directory, while a completed object is untouched.
func TestUploadReaper(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	staging := filepath.Join(dir, "fs", ".strata", "multipart")

	srv, c := startNodeAt(t, dir, key, 0)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("reaped")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reaped"), Key: aws.String("kept"), Body: strings.NewReader("keep me")}); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("reaped"), Key: aws.String("abandoned")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("reaped"), Key: aws.String("abandoned"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("part one")}); err != nil {
		t.Fatal(err)
	}
	// With the default expiry (a day) the upload survives a reaper pass.
	time.Sleep(1500 * time.Millisecond)
	if entries, _ := os.ReadDir(staging); len(entries) != 1 {
		t.Fatalf("staging dir has %d entries before expiry, want 1", len(entries))
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	_, c = startNodeAt(t, dir, key, time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("reaped")})
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(staging)
		if len(out.Uploads) == 0 && len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reaper did not abort the expired upload: %d upload records, %d staging dirs", len(out.Uploads), len(entries))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("reaped"), Key: aws.String("abandoned"), UploadId: up.UploadId,
		PartNumber: aws.Int32(2), Body: strings.NewReader("late")}); errorCode(err) != "NoSuchUpload" {
		t.Errorf("part for a reaped upload: %v, want NoSuchUpload", err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("reaped"), Key: aws.String("kept")}); err != nil {
		t.Errorf("object next to the reaped upload: %v", err)
	}
}
