package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/backend"
)

// stalePut stores v1 through strata, then replaces the backing object
// directly on the backend with body and meta: the state a kill between a
// PUT's backend write and its commit leaves. It returns what the backend
// now holds.
func (s *stack) stalePut(bucket, key string, body []byte, meta backend.Meta) backend.ObjectInfo {
	s.t.Helper()
	s.put(bucket, key, []byte("version one"))
	be, backingBucket := s.backing(bucket)
	ctx := context.Background()
	if _, err := be.PutObject(ctx, backingBucket, key, bytes.NewReader(body), int64(len(body)), meta); err != nil {
		s.t.Fatalf("overwrite backing object: %v", err)
	}
	info, err := be.HeadObject(ctx, backingBucket, key)
	if err != nil {
		s.t.Fatalf("head backing object: %v", err)
	}
	return info
}

// staleComplete is stalePut with a native multipart upload of two parts
// completed directly on the backend; it returns the assembled bytes too.
func (s *stack) staleComplete(bucket, key string, meta backend.Meta) (backend.ObjectInfo, []byte) {
	s.t.Helper()
	s.put(bucket, key, []byte("version one"))
	be, backingBucket := s.backing(bucket)
	ctx := context.Background()
	id, err := be.CreateMultipart(ctx, backingBucket, key, meta)
	if err != nil {
		s.t.Fatalf("create backing upload: %v", err)
	}
	parts := [][]byte{bytes.Repeat([]byte("1"), 5<<20), []byte("tail")}
	var done []backend.CompletedPart
	for i, p := range parts {
		etag, err := be.UploadPart(ctx, backingBucket, key, id, i+1, bytes.NewReader(p), int64(len(p)))
		if err != nil {
			s.t.Fatalf("upload backing part %d: %v", i+1, err)
		}
		done = append(done, backend.CompletedPart{Number: i + 1, ETag: etag})
	}
	info, err := be.CompleteMultipart(ctx, backingBucket, key, id, done)
	if err != nil {
		s.t.Fatalf("complete backing upload: %v", err)
	}
	return info, bytes.Join(parts, nil)
}

// TestGetAdoptsUncommittedBackingObject: when a record's backing object
// holds other bytes than the record says (a write reached the backend and
// the process died before its commit), a GET adopts the backing object:
// it serves the backend's bytes, ETag and metadata and commits a record
// that listings then show. A HEAD does the same without the body.
func TestGetAdoptsUncommittedBackingObject(t *testing.T) {
	meta := backend.Meta{ContentType: "application/json", ContentDisposition: "attachment", CacheControl: "no-cache",
		ContentLanguage: "de", User: map[string]string{"color": "blue"}}
	v2 := bytes.Repeat([]byte("version two "), 1000)
	sum := md5.Sum(v2)
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			s.createBucket("repair", bc.setup(s))
			t.Run("put", func(t *testing.T) {
				info := s.stalePut("repair", "k", v2, meta)
				if info.ETag != hex.EncodeToString(sum[:]) {
					t.Fatalf("backend ETag %q, want the hex MD5 %x", info.ETag, sum)
				}
				s.checkAdopted(t, "repair", "k", info, v2)
			})
			t.Run("head", func(t *testing.T) {
				info := s.stalePut("repair", "h", v2, meta)
				head, err := s.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("repair"), Key: aws.String("h")})
				if err != nil || aws.ToString(head.ETag) != `"`+info.ETag+`"` || aws.ToInt64(head.ContentLength) != int64(len(v2)) ||
					aws.ToString(head.ContentType) != "application/json" {
					t.Fatalf("HEAD of a stale record: %v, ETag %s length %d type %s; want the backing object's %s %d",
						err, aws.ToString(head.ETag), aws.ToInt64(head.ContentLength), aws.ToString(head.ContentType), info.ETag, len(v2))
				}
				rec, ok, err := s.srv.State().Object("repair", "h")
				if err != nil || !ok || rec.ETag != info.ETag || rec.Replicas[0].ETag != info.ETag {
					t.Fatalf("record after HEAD = %+v (%v, %v), want it adopted", rec, ok, err)
				}
				s.checkAdopted(t, "repair", "h", info, v2)
			})
			t.Run("multipart", func(t *testing.T) {
				info, body := s.staleComplete("repair", "mp", meta)
				if !strings.HasSuffix(info.ETag, "-2") {
					t.Fatalf("backend ETag %q, want a 2-part multipart ETag", info.ETag)
				}
				s.checkAdopted(t, "repair", "mp", info, body)
			})
		})
	}
}

// checkAdopted checks that bucket/key, whose record is stale, is served
// from the backing object info holding body after a GET.
func (s *stack) checkAdopted(t *testing.T, bucket, key string, info backend.ObjectInfo, body []byte) {
	t.Helper()
	ctx := context.Background()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GET of a stale record: %v", err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatalf("read GET body: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("GET served %d bytes, want the backing object's %d", len(got), len(body))
	}
	if e := aws.ToString(out.ETag); e != `"`+info.ETag+`"` {
		t.Errorf("ETag %s, want %q", e, info.ETag)
	}
	if aws.ToString(out.ContentType) != "application/json" || aws.ToString(out.ContentDisposition) != "attachment" ||
		aws.ToString(out.CacheControl) != "no-cache" || aws.ToString(out.ContentLanguage) != "de" || out.Metadata["color"] != "blue" {
		t.Errorf("metadata not the backing object's: type %q disposition %q cache %q language %q user %v",
			aws.ToString(out.ContentType), aws.ToString(out.ContentDisposition), aws.ToString(out.CacheControl),
			aws.ToString(out.ContentLanguage), out.Metadata)
	}
	if lm := aws.ToTime(out.LastModified); !lm.Equal(info.ModTime.Truncate(time.Second)) {
		t.Errorf("Last-Modified %v, want the backend's %v", lm, info.ModTime)
	}
	rec, ok, err := s.srv.State().Object(bucket, key)
	if err != nil || !ok || rec.ETag != info.ETag || rec.Size != info.Size || rec.Replicas[0].ETag != info.ETag || rec.Owner != testAccessKey {
		t.Fatalf("record after repair = %+v (%v, %v)", rec, ok, err)
	}
	list, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil || len(list.Contents) == 0 {
		t.Fatalf("list: %v", err)
	}
	if o := list.Contents[0]; aws.ToString(o.ETag) != `"`+info.ETag+`"` || aws.ToInt64(o.Size) != int64(len(body)) {
		t.Errorf("listing shows ETag %s size %d, want %q %d", aws.ToString(o.ETag), aws.ToInt64(o.Size), info.ETag, len(body))
	}
	if head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil ||
		aws.ToString(head.ETag) != `"`+info.ETag+`"` {
		t.Errorf("HEAD after the repair: %v, ETag %s", err, aws.ToString(head.ETag))
	}
}

// TestGetDoesNotAdoptDuringWrite: while a PUT of the key is in flight on
// the node (it holds the key lock, and the mismatch may be its own write),
// a GET of the stale record answers 503 and commits nothing; the PUT then
// commits its own record.
func TestGetDoesNotAdoptDuringWrite(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("busy", "")
	s.stalePut("busy", "k", []byte("uncommitted"), backend.Meta{ContentType: "text/plain"})
	before, _, err := s.srv.State().Object("busy", "k")
	if err != nil {
		t.Fatal(err)
	}
	finish := s.slowPut("busy", "k")
	_, err = s.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("busy"), Key: aws.String("k")})
	if code := errorCode(err); code != "ServiceUnavailable" {
		finish()
		t.Fatalf("GET during a write: %v, want ServiceUnavailable", err)
	}
	after, _, err := s.srv.State().Object("busy", "k")
	if err != nil || after.ETag != before.ETag || after.Replicas[0].ETag != before.Replicas[0].ETag {
		finish()
		t.Fatalf("record changed by a GET during a write: %+v, was %+v (%v)", after, before, err)
	}
	if st := finish(); st != http.StatusOK {
		t.Fatalf("slow PUT status %d", st)
	}
	if got := string(s.get("busy", "k")); got != "firstsecnd" {
		t.Fatalf("object holds %q, want the PUT's bytes", got)
	}
}

// TestGetMissingBackingObjectKeepsRecord: a record whose backing object
// is gone (a delete removes the bytes before the record, and its commit
// may have failed or lost to a newer write) reads as deleted: GET, HEAD
// and a conditional GET answer 404 NoSuchKey, while the record is never
// changed or dropped by a read and stays listed.
func TestGetMissingBackingObjectKeepsRecord(t *testing.T) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			s.createBucket("gone", bc.setup(s))
			s.put("gone", "k", []byte("bytes"))
			be, backingBucket := s.backing("gone")
			ctx := context.Background()
			sum := md5.Sum([]byte("bytes"))
			etag := aws.String(`"` + hex.EncodeToString(sum[:]) + `"`)
			if err := be.DeleteObject(ctx, backingBucket, "k"); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				_, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("gone"), Key: aws.String("k")})
				if code := errorCode(err); code != "NoSuchKey" {
					t.Fatalf("GET %d of a record without backing object: %v, want NoSuchKey", i+1, err)
				}
			}
			_, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("gone"), Key: aws.String("k"), IfNoneMatch: etag})
			if code := errorCode(err); code != "NoSuchKey" {
				t.Fatalf("GET If-None-Match of a record without backing object: %v, want NoSuchKey (not 304)", err)
			}
			_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("gone"), Key: aws.String("k"), Range: aws.String("bytes=1-2")})
			if code := errorCode(err); code != "NoSuchKey" {
				t.Fatalf("ranged GET of a record without backing object: %v, want NoSuchKey", err)
			}
			_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("gone"), Key: aws.String("k")})
			if code := errorCode(err); code != "NotFound" {
				t.Fatalf("HEAD of a record without backing object: %v, want NotFound (404)", err)
			}
			if _, err := be.HeadObject(ctx, backingBucket, "k"); !errors.Is(err, backend.ErrNotFound) {
				t.Fatalf("backing object: %v, want still not found", err)
			}
			rec, ok, err := s.srv.State().Object("gone", "k")
			if err != nil || !ok || rec.Size != int64(len("bytes")) {
				t.Fatalf("record = %+v, %v, %v; want the original kept", rec, ok, err)
			}
			list, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("gone")})
			if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "k" {
				t.Fatalf("listing after the failed GETs: %v, %+v", err, list)
			}
		})
	}
}
