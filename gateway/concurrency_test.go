package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestConcurrentOverwrites races writers and readers of one key: every
// successful GET must return a complete payload whose MD5 is the ETag it
// was served with (never bytes of one write under another's ETag), and the
// final record must match the final bytes.
func TestConcurrentOverwrites(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("race", "")
	ctx := context.Background()
	s.put("race", "hot", bytes.Repeat([]byte("0"), 64<<10))
	const writers, rounds = 4, 8
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				body := bytes.Repeat([]byte(fmt.Sprintf("w%d-r%d;", w, i)), 8<<10)
				if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("race"), Key: aws.String("hot"), Body: bytes.NewReader(body)}); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("race"), Key: aws.String("hot")})
				if err != nil {
					if code := errorCode(err); code != "ServiceUnavailable" {
						errs <- fmt.Errorf("reader: %w", err)
					}
					continue
				}
				b, err := io.ReadAll(out.Body)
				out.Body.Close()
				if err != nil {
					errs <- fmt.Errorf("reader body: %w", err)
					continue
				}
				sum := md5.Sum(b)
				if want := strings.Trim(aws.ToString(out.ETag), `"`); hex.EncodeToString(sum[:]) != want {
					errs <- fmt.Errorf("GET served %d bytes with MD5 %x under ETag %s", len(b), sum, want)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	final := s.get("race", "hot")
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("race"), Key: aws.String("hot")})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(final)
	if `"`+hex.EncodeToString(sum[:])+`"` != aws.ToString(head.ETag) {
		t.Errorf("final record ETag %s does not match the final bytes", aws.ToString(head.ETag))
	}
}

// TestDeleteBucketWithUpload deletes a bucket that has an in-progress
// multipart upload and no objects: the upload is aborted on the backend
// and the backing bucket removed.
func TestDeleteBucketWithUpload(t *testing.T) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			s.createBucket("pending", bc.setup(s))
			ctx := context.Background()
			be, name := s.backing("pending")
			up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("pending"), Key: aws.String("big")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("pending"), Key: aws.String("big"),
				UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("pending")}); err != nil {
				t.Fatalf("DeleteBucket with an upload in progress: %v", err)
			}
			if names, err := be.ListBuckets(ctx); err != nil || contains(names, name) {
				t.Errorf("backing bucket %s still exists (%v, %v)", name, names, err)
			}
			if _, ok, _ := s.srv.State().Upload(aws.ToString(up.UploadId)); ok {
				t.Error("upload record survived DeleteBucket")
			}
		})
	}
}

// TestConcurrentCreateBucket races CreateBucket of one name: one wins, the
// others get BucketAlreadyOwnedByYou, and the losers' backing buckets are
// removed again (exactly one backing bucket remains).
func TestConcurrentCreateBucket(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := context.Background()
	const n = 6
	codes := make(chan string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("contended")})
			codes <- errorCode(err)
		}()
	}
	wg.Wait()
	close(codes)
	wins := 0
	for c := range codes {
		switch c {
		case "":
			wins++
		case "BucketAlreadyOwnedByYou":
		default:
			t.Errorf("unexpected outcome %s", c)
		}
	}
	if wins != 1 {
		t.Errorf("%d CreateBucket calls succeeded, want 1", wins)
	}
	be, name := s.backing("contended")
	names, err := be.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, b := range names {
		if strings.HasPrefix(b, "contended-") {
			count++
			if b != name {
				t.Errorf("leftover backing bucket %s (the record uses %s)", b, name)
			}
		}
	}
	if count != 1 {
		t.Errorf("%d backing buckets for one virtual bucket: %v", count, names)
	}
}
