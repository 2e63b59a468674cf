package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratagw/strata/backend"
)

// deleteStatus sends a signed DELETE of bucket/key and returns the status
// and error code.
func (s *stack) deleteStatus(t *testing.T, bucket, key string) (int, string) {
	t.Helper()
	r := s.rawRequest("DELETE", "/"+bucket+"/"+escapeKey(key), nil)
	sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
	resp, _, e := do(t, r)
	return resp.StatusCode, e.Code
}

// TestDeleteObject: a DELETE removes the backing object and the record,
// answers 204, and the key then reads as missing; deleting a missing key
// answers 204 and touches nothing.
func TestDeleteObject(t *testing.T) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			s.createBucket("del", bc.setup(s))
			ctx := context.Background()
			s.put("del", "k", []byte("to be deleted"))
			s.put("del", "other", []byte("stays"))
			if st, code := s.deleteStatus(t, "del", "k"); st != http.StatusNoContent {
				t.Fatalf("DELETE: %d %s, want 204", st, code)
			}
			s.assertAbsent("del", "k")
			if _, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("del"), Key: aws.String("k")}); errorCode(err) != "NoSuchKey" {
				t.Errorf("GET after DELETE: %v, want NoSuchKey", err)
			}
			if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("del"), Key: aws.String("k")}); errorCode(err) != "NotFound" {
				t.Errorf("HEAD after DELETE: %v, want NotFound", err)
			}
			for _, key := range []string{"k", "never-written"} {
				if st, code := s.deleteStatus(t, "del", key); st != http.StatusNoContent {
					t.Errorf("DELETE of missing %q: %d %s, want 204", key, st, code)
				}
			}
			if got := string(s.get("del", "other")); got != "stays" {
				t.Errorf("other key holds %q after the deletes", got)
			}
			if st, code := s.deleteStatus(t, "nobucket", "k"); st != http.StatusNotFound || code != "NoSuchBucket" {
				t.Errorf("DELETE in a missing bucket: %d %s, want 404 NoSuchBucket", st, code)
			}
		})
	}
}

// TestDeleteObjectBackingAlreadyGone: a record whose backing object was
// removed behind strata's back (or by a delete whose commit failed) is
// deleted normally: 204, and the record is gone.
func TestDeleteObjectBackingAlreadyGone(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("half", "")
	s.put("half", "k", []byte("bytes"))
	be, backingBucket := s.backing("half")
	if err := be.DeleteObject(context.Background(), backingBucket, "k"); err != nil {
		t.Fatal(err)
	}
	if st, code := s.deleteStatus(t, "half", "k"); st != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s, want 204", st, code)
	}
	s.assertAbsent("half", "k")
}

// TestDeleteObjectBackendDown: when the backend cannot delete the bytes
// the DELETE answers 503 and commits nothing: the record and the bytes
// are still there for the retry once the backend is back.
func TestDeleteObjectBackendDown(t *testing.T) {
	s := newStack(t, stackOptions{})
	vgw, region := s.addVersitygwBackend("vgw")
	s.createBucket("down", region)
	s.put("down", "k", []byte("survives the failed delete"))
	s.put("down", "j", []byte("survives the failed batch delete"))
	vgw.Stop()
	if st, code := s.deleteStatus(t, "down", "k"); st != http.StatusServiceUnavailable || code != "ServiceUnavailable" {
		t.Fatalf("DELETE with the backend down: %d %s, want 503 ServiceUnavailable", st, code)
	}
	out, err := s.client.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: aws.String("down"),
		Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String("j")}}}})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "ServiceUnavailable" || len(out.Deleted) != 0 {
		t.Fatalf("DeleteObjects with the backend down: %v %+v, want one ServiceUnavailable entry", err, out)
	}
	for _, key := range []string{"k", "j"} {
		if _, ok, err := s.srv.State().Object("down", key); err != nil || !ok {
			t.Errorf("record %q after a failed delete: %v, %v; want kept", key, ok, err)
		}
	}
}

// TestDeleteObjectsRemovesBytes: DeleteObjects goes through the same
// path: records and backing objects are gone, missing keys are reported
// deleted.
func TestDeleteObjectsRemovesBytes(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("batch", "")
	s.put("batch", "a", []byte("a"))
	s.put("batch", "b/c", []byte("bc"))
	out, err := s.client.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: aws.String("batch"),
		Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("b/c")}, {Key: aws.String("missing")}}}})
	if err != nil || len(out.Errors) != 0 || len(out.Deleted) != 3 {
		t.Fatalf("DeleteObjects: %v, %+v", err, out)
	}
	for _, key := range []string{"a", "b/c"} {
		s.assertAbsent("batch", key)
	}
	be, backingBucket := s.backing("batch")
	if _, err := be.HeadObject(context.Background(), backingBucket, "missing"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("backing object of a missing key: %v, want not found", err)
	}
}

// TestCopyFromMissingBackingObject: a copy source whose bytes a delete
// removed (its record still there) reads as deleted for CopyObject and
// UploadPartCopy too: NoSuchKey, on the backend-side copy and on the
// streamed copy to another backend alike.
func TestCopyFromMissingBackingObject(t *testing.T) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			s.createBucket("src", bc.setup(s))
			s.createBucket("local-dst", "")
			s.put("src", "k", []byte("bytes"))
			be, backingBucket := s.backing("src")
			if err := be.DeleteObject(context.Background(), backingBucket, "k"); err != nil {
				t.Fatal(err)
			}
			for _, dst := range []string{"src", "local-dst"} {
				_, err := s.client.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String(dst), Key: aws.String("copy"), CopySource: aws.String("src/k")})
				if code := errorCode(err); code != "NoSuchKey" {
					t.Errorf("CopyObject to %s from a source without bytes: %v, want NoSuchKey", dst, err)
				}
				if _, ok, _ := s.srv.State().Object(dst, "copy"); ok {
					t.Errorf("CopyObject to %s committed a record", dst)
				}
				id := s.createUpload(dst, "mp")
				if _, err := s.copyPart(dst, "mp", id, 1, "src/k", ""); errorCode(err) != "NoSuchKey" {
					t.Errorf("UploadPartCopy to %s from a source without bytes: %v, want NoSuchKey", dst, err)
				}
			}
		})
	}
}
