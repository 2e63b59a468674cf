package gateway_test

import (
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestNullVersionID: strata never versions, so every object is the "null"
// version. GET, HEAD and DELETE naming versionId=null act on the object
// (as S3 does on an unversioned bucket); any other version id is
// NotImplemented.
func TestNullVersionID(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("nullver", "")
	s.put("nullver", "k", []byte("data"))
	ctx := context.Background()
	in := func() (*string, *string, *string) { return aws.String("nullver"), aws.String("k"), aws.String("null") }

	b, k, v := in()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, VersionId: v})
	if err != nil {
		t.Fatalf("GET versionId=null: %v", err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "data" {
		t.Fatalf("GET versionId=null = %q", got)
	}
	if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, VersionId: v}); err != nil {
		t.Fatalf("HEAD versionId=null: %v", err)
	}
	if _, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, VersionId: aws.String("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")}); errorCode(err) != "NotImplemented" {
		t.Errorf("GET of a real version id: %v, want NotImplemented", err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k, VersionId: aws.String("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")}); errorCode(err) != "NotImplemented" {
		t.Errorf("DELETE of a real version id: %v, want NotImplemented", err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k, VersionId: v}); err != nil {
		t.Fatalf("DELETE versionId=null: %v", err)
	}
	s.assertAbsent("nullver", "k")
}
