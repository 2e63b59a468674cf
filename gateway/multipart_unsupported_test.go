package gateway_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestMultipartUnsupportedWriteHeaders: multipart uploads refuse the
// write headers strata cannot honour, as PutObject does — the aws CLI
// sends --sse on CreateMultipartUpload for large files, and a conditional
// CompleteMultipartUpload must not silently overwrite.
func TestMultipartUnsupportedWriteHeaders(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := fsTarget(s, "mp-unsupported")
	ctx := context.Background()
	b := tg.bucket

	creates := []struct {
		name string
		in   *s3.CreateMultipartUploadInput
	}{
		{"sse", &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("sse"), ServerSideEncryption: s3types.ServerSideEncryptionAes256}},
		{"sse-kms", &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("kms"), ServerSideEncryption: s3types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("k")}},
		{"object lock", &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("lock"), ObjectLockLegalHoldStatus: s3types.ObjectLockLegalHoldStatusOn}},
	}
	for _, c := range creates {
		if _, err := s.client.CreateMultipartUpload(ctx, c.in); errorCode(err) != "NotImplemented" {
			t.Errorf("CreateMultipartUpload with %s: %v, want NotImplemented", c.name, err)
		}
	}
	out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(b)})
	if err != nil || len(out.Uploads) != 0 {
		t.Fatalf("uploads after refused creates: %+v, %v", out, err)
	}
	if n := tg.pending(t); n != 0 {
		t.Errorf("%d native uploads left on the backend", n)
	}

	s.put(b, "k", []byte("existing"))
	id := s.createUpload(b, "k")
	etag := s.mustUploadPart(b, "k", id, 1, []byte("replacement"))
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(b), Key: aws.String("k"), UploadId: aws.String(id), IfNoneMatch: aws.String("*"),
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{cpart(1, etag)}}})
	if errorCode(err) != "NotImplemented" {
		t.Errorf("conditional CompleteMultipartUpload: %v, want NotImplemented", err)
	}
	if got := string(s.get(b, "k")); got != "existing" {
		t.Errorf("object after a refused conditional complete = %q, want %q", got, "existing")
	}
}
