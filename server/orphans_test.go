package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/internal/testenv"
)

// TestOrphanCleanerRuns: Start runs the orphan cleaner with the configured
// grace and interval: a backing file no record points at disappears, an
// object written through S3 stays.
func TestOrphanCleanerRuns(t *testing.T) {
	const ak, sk = "AKIASTRATATEST000001", "strata-test-secret-key-0123456789abcdef"
	cfg := testConfig(t.TempDir())
	cfg.AdminAccessKey, cfg.AdminSecretKey = ak, sk
	// Not tiny: with a grace shorter than a commit the cleaner could take
	// the bytes of the PUT below between its backend write and commit.
	cfg.OrphanGrace, cfg.OrphanInterval = 30*time.Minute, 20*time.Millisecond
	s := start(t, cfg)
	c := testenv.S3Client(t, testenv.S3Server{Endpoint: s.S3URL(), AccessKey: ak, SecretKey: sk, Region: "us-east-1"})
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("pics")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pics"), Key: aws.String("kept"), Body: strings.NewReader("keep me")}); err != nil {
		t.Fatal(err)
	}
	b, ok, err := s.State().Bucket("pics")
	if err != nil || !ok || len(b.Backings) != 1 {
		t.Fatalf("bucket record: %+v %v %v", b, ok, err)
	}
	dir := filepath.Join(s.devRoot(), b.Backings[0].Name)
	orphan := filepath.Join(dir, "orphan")
	if err := os.WriteFile(orphan, []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Older than the configured grace, younger than the default one.
	written := time.Now().Add(-45 * time.Minute)
	if err := os.Chtimes(orphan, written, written); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(orphan); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the orphan cleaner did not delete the orphan")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pics"), Key: aws.String("kept")})
	if err != nil {
		t.Fatalf("object written through S3: %v", err)
	}
	out.Body.Close()
}
