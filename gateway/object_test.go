package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestObjectRoundTrip(t *testing.T) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			region := bc.setup(s)
			ctx := context.Background()
			s.createBucket("objs", region)
			body := bytes.Repeat([]byte("0123456789"), 1000)
			sum := md5.Sum(body)
			etag := `"` + hex.EncodeToString(sum[:]) + `"`
			expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			put, err := s.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt"), Body: bytes.NewReader(body),
				ContentType: aws.String("text/plain"), ContentEncoding: aws.String("identity"),
				ContentDisposition: aws.String(`attachment; filename="x.txt"`), ContentLanguage: aws.String("en"),
				CacheControl: aws.String("max-age=60"), Expires: aws.Time(expires),
				Metadata: map[string]string{"Color": "blue", "shape": "round"},
			})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if aws.ToString(put.ETag) != etag {
				t.Errorf("PUT ETag %s, want %s", aws.ToString(put.ETag), etag)
			}

			get, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt")})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			got, _ := io.ReadAll(get.Body)
			get.Body.Close()
			if !bytes.Equal(got, body) {
				t.Errorf("GET returned %d bytes, want %d", len(got), len(body))
			}
			if aws.ToString(get.ETag) != etag || aws.ToString(get.ContentType) != "text/plain" ||
				aws.ToString(get.ContentEncoding) != "identity" || aws.ToString(get.ContentLanguage) != "en" ||
				aws.ToString(get.CacheControl) != "max-age=60" || aws.ToString(get.ContentDisposition) != `attachment; filename="x.txt"` ||
				get.Metadata["color"] != "blue" || get.Metadata["shape"] != "round" || aws.ToInt64(get.ContentLength) != int64(len(body)) {
				t.Errorf("GET headers: etag=%s type=%s enc=%s lang=%s cc=%s disp=%s meta=%v len=%d",
					aws.ToString(get.ETag), aws.ToString(get.ContentType), aws.ToString(get.ContentEncoding),
					aws.ToString(get.ContentLanguage), aws.ToString(get.CacheControl), aws.ToString(get.ContentDisposition),
					get.Metadata, aws.ToInt64(get.ContentLength))
			}
			if get.ExpiresString == nil || !strings.Contains(*get.ExpiresString, "2030") {
				t.Errorf("Expires = %v", get.ExpiresString)
			}

			head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt")})
			if err != nil || aws.ToString(head.ETag) != etag || aws.ToInt64(head.ContentLength) != int64(len(body)) || head.LastModified == nil {
				t.Errorf("HeadObject = %+v, %v", head, err)
			}

			// The backing object is an ordinary object with the client's key.
			be, name := s.backing("objs")
			info, err := be.HeadObject(ctx, name, "dir/file one.txt")
			if err != nil || info.Size != int64(len(body)) {
				t.Errorf("backing object: %+v, %v", info, err)
			}

			// Ranges.
			for _, rc := range []struct {
				rng, want, cr string
			}{
				{"bytes=0-4", "01234", "bytes 0-4/10000"},
				{"bytes=9995-", "56789", "bytes 9995-9999/10000"},
				{"bytes=-3", "789", "bytes 9997-9999/10000"},
				{"bytes=9998-20000", "89", "bytes 9998-9999/10000"},
			} {
				out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt"), Range: aws.String(rc.rng)})
				if err != nil {
					t.Errorf("range %s: %v", rc.rng, err)
					continue
				}
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if string(b) != rc.want || aws.ToString(out.ContentRange) != rc.cr {
					t.Errorf("range %s = %q (%s), want %q (%s)", rc.rng, b, aws.ToString(out.ContentRange), rc.want, rc.cr)
				}
			}
			_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt"), Range: aws.String("bytes=10000-")})
			if code := errorCode(err); code != "InvalidRange" || httpStatus(err) != 416 {
				t.Errorf("unsatisfiable range: %s", code)
			}
			r := s.rawRequest("GET", "/objs/dir/file%20one.txt", nil)
			r.Header.Set("Range", "bytes=20000-30000")
			sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
			if resp, _, e := do(t, r); resp.StatusCode != 416 || e.Code != "InvalidRange" || resp.Header.Get("Content-Range") != "bytes */10000" {
				t.Errorf("416: %d %s Content-Range %q", resp.StatusCode, e.Code, resp.Header.Get("Content-Range"))
			}
			// Several ranges: S3 ignores the header and sends everything.
			r = s.rawRequest("GET", "/objs/dir/file%20one.txt", nil)
			r.Header.Set("Range", "bytes=0-1,5-6")
			sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
			if resp, b, _ := do(t, r); resp.StatusCode != 200 || len(b) != len(body) {
				t.Errorf("multi-range: %d, %d bytes", resp.StatusCode, len(b))
			}
			// 304 carries no body and no error document.
			r = s.rawRequest("GET", "/objs/dir/file%20one.txt", nil)
			r.Header.Set("If-None-Match", etag)
			sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
			if resp, b, _ := do(t, r); resp.StatusCode != 304 || len(b) != 0 || resp.Header.Get("ETag") != etag {
				t.Errorf("304: %d, %q, ETag %q", resp.StatusCode, b, resp.Header.Get("ETag"))
			}

			// Conditional requests.
			lm := aws.ToTime(head.LastModified)
			for _, cc := range []struct {
				name   string
				in     s3.GetObjectInput
				status int
			}{
				{"if-match ok", s3.GetObjectInput{IfMatch: aws.String(etag)}, 200},
				{"if-match fail", s3.GetObjectInput{IfMatch: aws.String(`"nope"`)}, 412},
				{"if-none-match hit", s3.GetObjectInput{IfNoneMatch: aws.String(etag)}, 304},
				{"if-modified-since later", s3.GetObjectInput{IfModifiedSince: aws.Time(lm.Add(time.Hour))}, 304},
				{"if-modified-since earlier", s3.GetObjectInput{IfModifiedSince: aws.Time(lm.Add(-time.Hour))}, 200},
				{"if-unmodified-since earlier", s3.GetObjectInput{IfUnmodifiedSince: aws.Time(lm.Add(-time.Hour))}, 412},
			} {
				in := cc.in
				in.Bucket, in.Key = aws.String("objs"), aws.String("dir/file one.txt")
				out, err := s.client.GetObject(ctx, &in)
				status := 200
				if err != nil {
					status = httpStatus(err)
				} else {
					out.Body.Close()
				}
				if status != cc.status {
					t.Errorf("%s: status %d (%v), want %d", cc.name, status, err, cc.status)
				}
			}

			// response-* overrides.
			ov, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt"),
				ResponseContentType: aws.String("application/x-test"), ResponseContentDisposition: aws.String("inline"),
				ResponseCacheControl: aws.String("no-cache")})
			if err != nil {
				t.Fatal(err)
			}
			ov.Body.Close()
			if aws.ToString(ov.ContentType) != "application/x-test" || aws.ToString(ov.ContentDisposition) != "inline" || aws.ToString(ov.CacheControl) != "no-cache" {
				t.Errorf("overrides: %s %s %s", aws.ToString(ov.ContentType), aws.ToString(ov.ContentDisposition), aws.ToString(ov.CacheControl))
			}

			// Overwrite, then delete (idempotent).
			s.put("objs", "dir/file one.txt", []byte("new"))
			if got := string(s.get("objs", "dir/file one.txt")); got != "new" {
				t.Errorf("after overwrite: %q", got)
			}
			for i := 0; i < 2; i++ {
				if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt")}); err != nil {
					t.Errorf("DeleteObject #%d: %v", i+1, err)
				}
			}
			s.assertAbsent("objs", "dir/file one.txt")
			_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt")})
			if code := errorCode(err); code != "NoSuchKey" {
				t.Errorf("GET deleted: %s", code)
			}
			_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file one.txt")})
			if status := httpStatus(err); status != 404 {
				t.Errorf("HEAD deleted: %d", status)
			}
			_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("missing"), Key: aws.String("k")})
			if code := errorCode(err); code != "NoSuchBucket" {
				t.Errorf("GET in missing bucket: %s", code)
			}

			// Empty object and a 1024-byte UTF-8 key.
			// (Segments stay under the 255-byte file name limit of the fs
			// backend.)
			long := strings.Repeat(strings.Repeat("é", 100)+"/", 5) + strings.Repeat("é", 9) + "x"
			if len(long) != 1024 {
				t.Fatalf("key length %d", len(long))
			}
			s.put("objs", long, nil)
			if got := s.get("objs", long); len(got) != 0 {
				t.Errorf("empty object returned %d bytes", len(got))
			}
		})
	}
}

func TestDeleteObjects(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := context.Background()
	s.createBucket("del", "")
	for _, k := range []string{"a", "b", "c"} {
		s.put("del", k, []byte(k))
	}
	out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"), Delete: &s3types.Delete{
		Objects: []s3types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("missing")}, {Key: aws.String(strings.Repeat("k", 1025))}},
	}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	if len(out.Deleted) != 2 || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "KeyTooLongError" {
		t.Errorf("DeleteObjects result: deleted %d errors %+v", len(out.Deleted), out.Errors)
	}
	quiet, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"), Delete: &s3types.Delete{
		Quiet: aws.Bool(true), Objects: []s3types.ObjectIdentifier{{Key: aws.String("b")}, {Key: aws.String("c")}},
	}})
	if err != nil || len(quiet.Deleted) != 0 || len(quiet.Errors) != 0 {
		t.Errorf("quiet DeleteObjects: %+v, %v", quiet, err)
	}
	for _, k := range []string{"a", "b", "c"} {
		s.assertAbsent("del", k)
	}
	many := make([]s3types.ObjectIdentifier, 1001)
	for i := range many {
		many[i] = s3types.ObjectIdentifier{Key: aws.String("k")}
	}
	_, err = s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"), Delete: &s3types.Delete{Objects: many}})
	if code := errorCode(err); code != "MalformedXML" {
		t.Errorf("1001 keys: %s", code)
	}
}

// httpStatus is the HTTP status of an SDK error (0 if none).
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if asErr(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
