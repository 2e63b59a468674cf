package gateway_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestCopyObject(t *testing.T) {
	s := newStack(t, stackOptions{})
	_, vgwRegion := s.addVersitygwBackend("vgw")
	ctx := context.Background()
	s.createBucket("src", "")
	s.createBucket("dst", "")
	s.createBucket("remote", vgwRegion)
	data := []byte("copy me, please")
	sum := md5.Sum(data)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("orig key"),
		Body: bytesReader(data), ContentType: aws.String("text/x-orig"), Metadata: map[string]string{"m": "1"}})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, bucket, key string
	}{
		{"same bucket", "src", "copy"},
		{"other bucket", "dst", "copy"},
		{"other backend", "remote", "copy"},
	}
	cases = append(cases, []struct{ name, bucket, key string }{
		// Sources on the s3 backend: server-side on versitygw, and back
		// to the fs backend through strata.
		{"within the s3 backend", "remote", "copy2"},
		{"s3 backend to fs backend", "dst", "from-remote"},
	}...)
	for i, c := range cases {
		source := "src/orig%20key"
		if i >= 3 {
			source = "remote/copy"
		}
		out, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key),
			CopySource: aws.String(source)})
		if err != nil {
			t.Errorf("%s: CopyObject: %v", c.name, err)
			continue
		}
		if aws.ToString(out.CopyObjectResult.ETag) != etag || out.CopyObjectResult.LastModified == nil {
			t.Errorf("%s: result %+v", c.name, out.CopyObjectResult)
		}
		if got := string(s.get(c.bucket, c.key)); got != string(data) {
			t.Errorf("%s: copied bytes %q", c.name, got)
		}
		head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key)})
		if err != nil || aws.ToString(head.ContentType) != "text/x-orig" || head.Metadata["m"] != "1" {
			t.Errorf("%s: COPY directive lost metadata: %+v %v", c.name, head, err)
		}
		be, name := s.backing(c.bucket)
		if _, err := be.HeadObject(ctx, name, c.key); err != nil {
			t.Errorf("%s: backing object: %v", c.name, err)
		}
	}

	// REPLACE directive, also onto itself.
	_, err = s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("orig key"),
		CopySource: aws.String("src/orig%20key"), MetadataDirective: s3types.MetadataDirectiveReplace,
		ContentType: aws.String("text/x-new"), Metadata: map[string]string{"n": "2"}})
	if err != nil {
		t.Fatalf("self copy with REPLACE: %v", err)
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("orig key")})
	if err != nil || aws.ToString(head.ContentType) != "text/x-new" || head.Metadata["n"] != "2" || head.Metadata["m"] != "" {
		t.Errorf("after REPLACE: %+v %v", head.Metadata, err)
	}
	if got := string(s.get("src", "orig key")); got != string(data) {
		t.Errorf("self copy changed the bytes: %q", got)
	}

	errCases := []struct {
		name string
		in   s3.CopyObjectInput
		code string
	}{
		{"self without replace", s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("orig key"), CopySource: aws.String("src/orig%20key")}, "InvalidRequest"},
		{"if-match fails", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("src/orig%20key"), CopySourceIfMatch: aws.String(`"nope"`)}, "PreconditionFailed"},
		{"if-none-match hits", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("src/orig%20key"), CopySourceIfNoneMatch: aws.String(etag)}, "PreconditionFailed"},
		{"if-unmodified-since", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("src/orig%20key"), CopySourceIfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))}, "PreconditionFailed"},
		{"if-modified-since", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("src/orig%20key"), CopySourceIfModifiedSince: aws.Time(time.Now().Add(time.Hour))}, "PreconditionFailed"},
		{"missing source", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("src/none")}, "NoSuchKey"},
		{"missing source bucket", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("nobucket/k")}, "NoSuchBucket"},
		{"version id", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("src/orig%20key?versionId=abc")}, "NotImplemented"},
		{"bad directive", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("src/orig%20key"), MetadataDirective: "MOVE"}, "InvalidArgument"},
	}
	for _, c := range errCases {
		_, err := s.client.CopyObject(ctx, &c.in)
		if code := errorCode(err); code != c.code {
			t.Errorf("%s: %s, want %s", c.name, code, c.code)
		}
	}
	s.assertAbsent("dst", "c2")
}

// TestCopyTooLarge: a source above the single-PUT limit must be copied
// with UploadPartCopy, as S3 requires.
func TestCopyTooLarge(t *testing.T) {
	s := newStack(t, stackOptions{maxObjectSize: 1 << 20})
	s.createBucket("large", "")
	ctx := context.Background()
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("large"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("large"), Key: aws.String("big"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytesReader(make([]byte, 2<<20))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("large"), Key: aws.String("big"),
		UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("large"), Key: aws.String("copy"), CopySource: aws.String("large/big")})
	if code := errorCode(err); code != "InvalidRequest" {
		t.Errorf("copy of a 2 MiB source with a 1 MiB limit: %s", code)
	}
	s.assertAbsent("large", "copy")
}
