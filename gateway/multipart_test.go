package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratagw/strata/internal/testenv"
)

const mib = 1 << 20

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// s3MultipartETag computes S3's multipart ETag of the given parts
// independently of the gateway's code.
func s3MultipartETag(parts ...[]byte) string {
	var sums []byte
	for _, p := range parts {
		s := md5.Sum(p)
		sums = append(sums, s[:]...)
	}
	all := md5.Sum(sums)
	return fmt.Sprintf("%s-%d", hex.EncodeToString(all[:]), len(parts))
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// mpTarget is one backend the multipart tests run against: a bucket on it
// and a way to see the backend's own multipart staging.
type mpTarget struct {
	name   string
	bucket string
	// pending lists the backend's in-progress native uploads of bucket
	// (fs: staging directories; s3: the backend's own ListMultipartUploads).
	pending func(t *testing.T) int
}

// fsTarget is a bucket on the development fs backend.
func fsTarget(s *stack, bucket string) mpTarget {
	s.createBucket(bucket, "")
	return mpTarget{name: "fs", bucket: bucket, pending: func(t *testing.T) int {
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(s.dir, "fs", ".strata", "multipart"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatalf("read fs staging dir: %v", err)
		}
		return len(entries)
	}}
}

// s3Target is a bucket on a real versitygw added as an s3 backend.
func s3Target(s *stack, bucket string) mpTarget {
	vgw, region := s.addVersitygwBackend("vgw-" + bucket)
	s.createBucket(bucket, region)
	direct := testenv.S3Client(s.t, vgw)
	_, backingName := s.backing(bucket)
	return mpTarget{name: "s3", bucket: bucket, pending: func(t *testing.T) int {
		t.Helper()
		out, err := direct.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(backingName)})
		if err != nil {
			t.Fatalf("list uploads on versitygw: %v", err)
		}
		return len(out.Uploads)
	}}
}

// targets returns an fs and an s3 target on one stack.
func targets(s *stack) []mpTarget {
	return []mpTarget{fsTarget(s, "mp-fs"), s3Target(s, "mp-s3")}
}

func (s *stack) createUpload(bucket, key string) string {
	s.t.Helper()
	out, err := s.client.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		s.t.Fatalf("create upload %s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.UploadId)
}

func (s *stack) uploadPart(bucket, key, id string, n int32, data []byte) (string, error) {
	out, err := s.client.UploadPart(context.Background(), &s3.UploadPartInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(n), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

func (s *stack) mustUploadPart(bucket, key, id string, n int32, data []byte) string {
	s.t.Helper()
	etag, err := s.uploadPart(bucket, key, id, n, data)
	if err != nil {
		s.t.Fatalf("upload part %d: %v", n, err)
	}
	return etag
}

func (s *stack) complete(bucket, key, id string, parts ...s3types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	return s.client.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
}

func cpart(n int32, etag string) s3types.CompletedPart {
	return s3types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etag)}
}

func TestMultipartRoundTrip(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			key := "dir/big object.bin"
			out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
				Bucket: aws.String(tg.bucket), Key: aws.String(key),
				ContentType: aws.String("application/x-test"), Metadata: map[string]string{"color": "blue"}})
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(out.UploadId)
			if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
				t.Errorf("upload id %q is not 32 hex characters", id)
			}
			parts := [][]byte{randomBytes(1, 5*mib), randomBytes(2, 5*mib), randomBytes(3, 5*mib), randomBytes(4, 1234)}
			var done []s3types.CompletedPart
			var all []byte
			for i, p := range parts {
				etag := s.mustUploadPart(tg.bucket, key, id, int32(i+1), p)
				if etag != `"`+md5Hex(p)+`"` {
					t.Errorf("part %d ETag %s, want the quoted MD5 %s", i+1, etag, md5Hex(p))
				}
				done = append(done, cpart(int32(i+1), etag))
				all = append(all, p...)
			}
			if n := tg.pending(t); n != 1 {
				t.Errorf("backend has %d native uploads in progress, want 1", n)
			}
			res, err := s.complete(tg.bucket, key, id, done...)
			if err != nil {
				t.Fatalf("complete: %v", err)
			}
			want := s3MultipartETag(parts...)
			if got := aws.ToString(res.ETag); got != `"`+want+`"` {
				t.Errorf("complete ETag %s, want %q", got, want)
			}
			if aws.ToString(res.Key) != key || aws.ToString(res.Bucket) != tg.bucket || !strings.HasSuffix(aws.ToString(res.Location), "/"+tg.bucket+"/dir/big%20object.bin") {
				t.Errorf("complete result %s %s %s", aws.ToString(res.Bucket), aws.ToString(res.Key), aws.ToString(res.Location))
			}
			if got := s.get(tg.bucket, key); !bytes.Equal(got, all) {
				t.Fatalf("object has %d bytes, want the %d uploaded (content differs)", len(got), len(all))
			}
			head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(tg.bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(head.ContentLength) != int64(len(all)) || aws.ToString(head.ETag) != `"`+want+`"` ||
				aws.ToString(head.ContentType) != "application/x-test" || head.Metadata["color"] != "blue" {
				t.Errorf("head: size %d etag %s type %s meta %v", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag),
					aws.ToString(head.ContentType), head.Metadata)
			}
			// A range across the first part boundary.
			rng, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(tg.bucket), Key: aws.String(key),
				Range: aws.String(fmt.Sprintf("bytes=%d-%d", 5*mib-10, 5*mib+9))})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rng.Body)
			rng.Body.Close()
			if !bytes.Equal(got, all[5*mib-10:5*mib+10]) {
				t.Errorf("range across the part boundary returned other bytes")
			}
			if n := tg.pending(t); n != 0 {
				t.Errorf("backend still has %d native uploads after complete", n)
			}
			// The object is native: the backing bucket holds it under its key.
			be, backingName := s.backing(tg.bucket)
			info, err := be.HeadObject(ctx, backingName, key)
			if err != nil || info.Size != int64(len(all)) {
				t.Errorf("backing object: %+v, %v", info, err)
			}
			uploads, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(tg.bucket)})
			if err != nil || len(uploads.Uploads) != 0 {
				t.Errorf("uploads after complete: %v, %v", uploads.Uploads, err)
			}
		})
	}
}

// TestMultipartUploaderManager drives the SDK's transfer manager, with the
// SDK's default request checksums (trailing CRC32 on every part).
func TestMultipartUploaderManager(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			client := s3.New(s.client.Options(), func(o *s3.Options) {
				o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
			})
			data := randomBytes(7, 40*mib+333)
			// manager.Uploader is deprecated in favour of a separate
			// transfermanager module, but it is what most deployed Go
			// clients still use, so it is the one to stay compatible with.
			//lint:ignore SA1019 testing the uploader clients actually use
			up := manager.NewUploader(client, func(u *manager.Uploader) {
				u.PartSize = 5 * mib
				u.Concurrency = 4
				u.LeavePartsOnError = false
			})
			//lint:ignore SA1019 see above
			out, err := up.Upload(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(tg.bucket), Key: aws.String("managed.bin"), Body: bytes.NewReader(data)})
			if err != nil {
				t.Fatalf("manager upload: %v", err)
			}
			var parts [][]byte
			for off := 0; off < len(data); off += 5 * mib {
				parts = append(parts, data[off:min(off+5*mib, len(data))])
			}
			if got, want := aws.ToString(out.ETag), `"`+s3MultipartETag(parts...)+`"`; got != want {
				t.Errorf("ETag %s, want %s", got, want)
			}
			if got := s.get(tg.bucket, "managed.bin"); !bytes.Equal(got, data) {
				t.Fatalf("downloaded %d bytes, want %d identical", len(got), len(data))
			}
			if n := tg.pending(t); n != 0 {
				t.Errorf("backend still has %d native uploads", n)
			}
		})
	}
}

func TestMultipartPartReplacement(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			id := s.createUpload(tg.bucket, "k")
			first, second := randomBytes(10, 5*mib), randomBytes(11, 5*mib+1)
			s.mustUploadPart(tg.bucket, "k", id, 1, first)
			etag := s.mustUploadPart(tg.bucket, "k", id, 1, second)
			last := s.mustUploadPart(tg.bucket, "k", id, 2, []byte("tail"))
			lp, err := s.client.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String(tg.bucket), Key: aws.String("k"), UploadId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			if len(lp.Parts) != 2 || aws.ToString(lp.Parts[0].ETag) != etag || aws.ToInt64(lp.Parts[0].Size) != int64(len(second)) {
				t.Fatalf("parts after replacement: %+v", lp.Parts)
			}
			if _, err := s.complete(tg.bucket, "k", id, cpart(1, md5Hex(first)), cpart(2, last)); errorCode(err) != "InvalidPart" {
				t.Fatalf("complete with the replaced part's ETag: %v, want InvalidPart", err)
			}
			if _, err := s.complete(tg.bucket, "k", id, cpart(1, etag), cpart(2, last)); err != nil {
				t.Fatalf("complete: %v", err)
			}
			if got := s.get(tg.bucket, "k"); !bytes.Equal(got, append(append([]byte{}, second...), "tail"...)) {
				t.Fatalf("object does not hold the replacement part")
			}
		})
	}
}

func TestMultipartErrors(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := fsTarget(s, "mp-errors")
	other := fsTarget(s, "mp-other")
	ctx := context.Background()
	b := tg.bucket
	big1, big2 := randomBytes(20, 5*mib), randomBytes(21, 5*mib)

	t.Run("complete checks", func(t *testing.T) {
		id := s.createUpload(b, "k")
		e1 := s.mustUploadPart(b, "k", id, 1, big1)
		e2 := s.mustUploadPart(b, "k", id, 2, []byte("small"))
		e3 := s.mustUploadPart(b, "k", id, 3, big2)
		tests := []struct {
			name  string
			parts []s3types.CompletedPart
			code  string
		}{
			{"wrong etag", []s3types.CompletedPart{cpart(1, e1), cpart(3, `"`+md5Hex([]byte("x"))+`"`)}, "InvalidPart"},
			{"unknown part", []s3types.CompletedPart{cpart(1, e1), cpart(4, e3)}, "InvalidPart"},
			{"out of order", []s3types.CompletedPart{cpart(3, e3), cpart(1, e1)}, "InvalidPartOrder"},
			{"small middle part", []s3types.CompletedPart{cpart(1, e1), cpart(2, e2), cpart(3, e3)}, "EntityTooSmall"},
			{"no parts", nil, "MalformedXML"},
		}
		for _, tt := range tests {
			if _, err := s.complete(b, "k", id, tt.parts...); errorCode(err) != tt.code {
				t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
			}
		}
		s.assertAbsent(b, "k")
		// The upload survived the failed completes.
		if _, err := s.complete(b, "k", id, cpart(1, e1), cpart(3, e3)); err != nil {
			t.Fatalf("valid complete after failed ones: %v", err)
		}
		// A retried complete (first answer lost) gets the same result;
		// another part list for the finished upload does not.
		res, err := s.complete(b, "k", id, cpart(1, e1), cpart(3, e3))
		if err != nil || aws.ToString(res.ETag) != `"`+s3MultipartETag(big1, big2)+`"` {
			t.Errorf("retried complete: %v", err)
		}
		if _, err := s.complete(b, "k", id, cpart(1, e1)); errorCode(err) != "NoSuchUpload" {
			t.Errorf("complete of a finished upload with other parts: %v, want NoSuchUpload", err)
		}
	})

	t.Run("upload id of another bucket or key", func(t *testing.T) {
		id := s.createUpload(b, "k2")
		if _, err := s.uploadPart(other.bucket, "k2", id, 1, []byte("x")); errorCode(err) != "NoSuchUpload" {
			t.Errorf("part into another bucket: %v, want NoSuchUpload", err)
		}
		if _, err := s.uploadPart(b, "k3", id, 1, []byte("x")); errorCode(err) != "NoSuchUpload" {
			t.Errorf("part into another key: %v, want NoSuchUpload", err)
		}
		if _, err := s.client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(other.bucket), Key: aws.String("k2"), UploadId: aws.String(id)}); errorCode(err) != "NoSuchUpload" {
			t.Errorf("list parts via another bucket: %v, want NoSuchUpload", err)
		}
		if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(other.bucket), Key: aws.String("k2"), UploadId: aws.String(id)}); errorCode(err) != "NoSuchUpload" {
			t.Errorf("abort via another bucket: %v, want NoSuchUpload", err)
		}
		if _, err := s.uploadPart(b, "k2", "0123456789abcdef0123456789abcdef", 1, []byte("x")); errorCode(err) != "NoSuchUpload" {
			t.Errorf("unknown upload id: %v, want NoSuchUpload", err)
		}
		// Still usable through its own bucket and key.
		s.mustUploadPart(b, "k2", id, 1, []byte("x"))
	})

	t.Run("abort", func(t *testing.T) {
		id := s.createUpload(b, "aborted")
		s.mustUploadPart(b, "aborted", id, 1, []byte("x"))
		before := tg.pending(t)
		if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("aborted"), UploadId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		if after := tg.pending(t); after != before-1 {
			t.Errorf("fs staging dirs: %d before abort, %d after", before, after)
		}
		if _, err := s.uploadPart(b, "aborted", id, 1, []byte("x")); errorCode(err) != "NoSuchUpload" {
			t.Errorf("part after abort: %v, want NoSuchUpload", err)
		}
		if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("aborted"), UploadId: aws.String(id)}); errorCode(err) != "NoSuchUpload" {
			t.Errorf("second abort: %v, want NoSuchUpload", err)
		}
		s.assertAbsent(b, "aborted")
	})

	t.Run("part number and digest validation", func(t *testing.T) {
		id := s.createUpload(b, "v")
		for _, n := range []string{"0", "10001", "-1", "x"} {
			r := s.rawRequest(http.MethodPut, "/"+b+"/v?partNumber="+n+"&uploadId="+id, []byte("data"))
			sign(t, r, []byte("data"), testAccessKey, testSecretKey, time.Now())
			resp, _, e := do(t, r)
			if resp.StatusCode != http.StatusBadRequest || e.Code != "InvalidArgument" {
				t.Errorf("partNumber=%s: %d %s, want 400 InvalidArgument", n, resp.StatusCode, e.Code)
			}
		}
		_, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(b), Key: aws.String("v"), UploadId: aws.String(id),
			PartNumber: aws.Int32(1), Body: strings.NewReader("data"), ContentMD5: aws.String("1B2M2Y8AsgTpgAmY7PhCfg==")})
		if errorCode(err) != "BadDigest" {
			t.Errorf("wrong Content-MD5: %v, want BadDigest", err)
		}
		r := s.rawRequest(http.MethodPut, "/"+b+"/v?partNumber=2&uploadId="+id, []byte("data"))
		sign(t, r, []byte("other"), testAccessKey, testSecretKey, time.Now())
		if resp, _, e := do(t, r); e.Code != "XAmzContentSHA256Mismatch" {
			t.Errorf("payload not matching x-amz-content-sha256: %d %s", resp.StatusCode, e.Code)
		}
		lp, err := s.client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(b), Key: aws.String("v"), UploadId: aws.String(id)})
		if err != nil || len(lp.Parts) != 0 {
			t.Errorf("parts recorded after rejected uploads: %+v, %v", lp.Parts, err)
		}
		// Nor did the backend keep them: the staging dir holds only the
		// upload's own descriptor.
		u, ok, err := s.srv.State().Upload(id)
		if err != nil || !ok {
			t.Fatalf("upload record: %v %v", ok, err)
		}
		staged, err := os.ReadDir(filepath.Join(s.dir, "fs", ".strata", "multipart", u.BackendUploadID))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range staged {
			if strings.HasPrefix(e.Name(), "part.") {
				t.Errorf("backend kept rejected part file %s", e.Name())
			}
		}
	})

	t.Run("missing bucket and bad key", func(t *testing.T) {
		if _, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")}); errorCode(err) != "NoSuchBucket" {
			t.Errorf("create in a missing bucket: %v", err)
		}
		if _, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String(strings.Repeat("k", 1025))}); errorCode(err) != "KeyTooLongError" {
			t.Errorf("create with a 1025-byte key: %v", err)
		}
		if _, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("a/../../escape")}); errorCode(err) != "InvalidObjectName" {
			t.Errorf("create with a key escaping the fs root: %v", err)
		}
		if _, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("no-such-bucket")}); errorCode(err) != "NoSuchBucket" {
			t.Errorf("list uploads of a missing bucket: %v", err)
		}
	})
}

// TestMultipartBackendDown stops the S3 server behind a bucket: every
// multipart write is 503 ServiceUnavailable and changes nothing, while the
// listings (served from the raft state) keep working.
func TestMultipartBackendDown(t *testing.T) {
	s := newStack(t, stackOptions{})
	vgw, region := s.addVersitygwBackend("going-down")
	s.createBucket("mp-down", region)
	ctx := context.Background()
	id := s.createUpload("mp-down", "k")
	etag := s.mustUploadPart("mp-down", "k", id, 1, []byte("stored before the outage"))
	vgw.Stop()

	if _, err := s.uploadPart("mp-down", "k", id, 2, []byte("lost")); errorCode(err) != "ServiceUnavailable" {
		t.Errorf("upload part: %v, want ServiceUnavailable", err)
	}
	if _, err := s.complete("mp-down", "k", id, cpart(1, etag)); errorCode(err) != "ServiceUnavailable" {
		t.Errorf("complete: %v, want ServiceUnavailable", err)
	}
	if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mp-down"), Key: aws.String("k"), UploadId: aws.String(id)}); errorCode(err) != "ServiceUnavailable" {
		t.Errorf("abort: %v, want ServiceUnavailable", err)
	}
	if _, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mp-down"), Key: aws.String("k2")}); errorCode(err) != "ServiceUnavailable" {
		t.Errorf("create: %v, want ServiceUnavailable", err)
	}
	lp, err := s.client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mp-down"), Key: aws.String("k"), UploadId: aws.String(id)})
	if err != nil || len(lp.Parts) != 1 || aws.ToString(lp.Parts[0].ETag) != etag {
		t.Errorf("parts during the outage: %+v, %v", lp, err)
	}
	ups, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mp-down")})
	if err != nil || len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != id {
		t.Errorf("uploads during the outage: %+v, %v", ups, err)
	}
	if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mp-down"), Key: aws.String("k")}); errorCode(err) != "NotFound" {
		t.Errorf("object after a failed complete: %v, want NotFound", err)
	}
}
