package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func (s *stack) copyPart(bucket, key, id string, n int32, source, rng string) (string, error) {
	in := &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(n), CopySource: aws.String(source)}
	if rng != "" {
		in.CopySourceRange = aws.String(rng)
	}
	out, err := s.client.UploadPartCopy(context.Background(), in)
	if err != nil {
		return "", err
	}
	if out.CopyPartResult == nil || out.CopyPartResult.LastModified == nil {
		return "", fmt.Errorf("copy part result without LastModified: %+v", out.CopyPartResult)
	}
	return aws.ToString(out.CopyPartResult.ETag), nil
}

// TestUploadPartCopy assembles an object from ranges of another object:
// server-side on the same backend (fs→fs, versitygw→versitygw) and
// streamed through the gateway across backends (fs→versitygw).
func TestUploadPartCopy(t *testing.T) {
	s := newStack(t, stackOptions{})
	fs := fsTarget(s, "copy-fs")
	vgw := s3Target(s, "copy-s3")
	src := randomBytes(30, 12*mib+77)
	s.put(fs.bucket, "src", src)
	s.put(vgw.bucket, "src", src)

	cases := []struct {
		name, srcBucket, dstBucket string
	}{
		{"fs to fs", fs.bucket, fs.bucket},
		{"s3 to s3", vgw.bucket, vgw.bucket},
		{"fs to s3", fs.bucket, vgw.bucket},
		{"s3 to fs", vgw.bucket, fs.bucket},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := "assembled-from-" + c.srcBucket
			id := s.createUpload(c.dstBucket, key)
			// Part 1 is a whole-object copy, parts 2-4 are ranges (the
			// last one smaller than 5 MiB).
			etag, err := s.copyPart(c.dstBucket, key, id, 1, c.srcBucket+"/src", "")
			if err != nil {
				t.Fatalf("whole-object part copy: %v", err)
			}
			if etag != `"`+md5Hex(src)+`"` {
				t.Errorf("whole-object part ETag %s, want %s", etag, md5Hex(src))
			}
			parts := []s3types.CompletedPart{cpart(1, etag)}
			want := [][]byte{src}
			ranges := [][2]int{{0, 5*mib - 1}, {5 * mib, 10*mib - 1}, {10 * mib, len(src) - 1}}
			for i, r := range ranges {
				n := int32(i + 2)
				etag, err := s.copyPart(c.dstBucket, key, id, n, c.srcBucket+"/src", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
				if err != nil {
					t.Fatalf("copy part %d: %v", n, err)
				}
				piece := src[r[0] : r[1]+1]
				if etag != `"`+md5Hex(piece)+`"` {
					t.Errorf("part %d ETag %s, want MD5 of the copied range %s", n, etag, md5Hex(piece))
				}
				parts = append(parts, cpart(n, etag))
				want = append(want, piece)
			}
			res, err := s.complete(c.dstBucket, key, id, parts...)
			if err != nil {
				t.Fatalf("complete: %v", err)
			}
			if aws.ToString(res.ETag) != `"`+s3MultipartETag(want...)+`"` {
				t.Errorf("ETag %s, want %s", aws.ToString(res.ETag), s3MultipartETag(want...))
			}
			if got := s.get(c.dstBucket, key); !bytes.Equal(got, bytes.Join(want, nil)) {
				t.Fatalf("assembled object differs (%d bytes)", len(got))
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		id := s.createUpload(fs.bucket, "bad-copies")
		size := len(src)
		tests := []struct {
			name, source, rng string
			code              string
		}{
			{"range past the end", fs.bucket + "/src", fmt.Sprintf("bytes=0-%d", size), "InvalidRange"},
			{"range starting past the end", fs.bucket + "/src", fmt.Sprintf("bytes=%d-%d", size+1, size+5), "InvalidRange"},
			{"malformed range", fs.bucket + "/src", "bytes=5-", "InvalidArgument"},
			{"reversed range", fs.bucket + "/src", "bytes=5-1", "InvalidArgument"},
			{"missing source key", fs.bucket + "/nope", "", "NoSuchKey"},
			{"missing source bucket", "no-such-bucket/src", "", "NoSuchBucket"},
		}
		for _, tt := range tests {
			if _, err := s.copyPart(fs.bucket, "bad-copies", id, 1, tt.source, tt.rng); errorCode(err) != tt.code {
				t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
			}
		}
		_, err := s.client.UploadPartCopy(context.Background(), &s3.UploadPartCopyInput{Bucket: aws.String(fs.bucket), Key: aws.String("bad-copies"),
			UploadId: aws.String(id), PartNumber: aws.Int32(1), CopySource: aws.String(fs.bucket + "/src"),
			CopySourceIfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)})
		if errorCode(err) != "PreconditionFailed" {
			t.Errorf("copy-source-if-match mismatch: %v, want PreconditionFailed", err)
		}
		if _, err := s.copyPart(fs.bucket, "bad-copies", "0123456789abcdef0123456789abcdef", 1, fs.bucket+"/src", ""); errorCode(err) != "NoSuchUpload" {
			t.Errorf("unknown upload: %v, want NoSuchUpload", err)
		}
		lp, err := s.client.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String(fs.bucket), Key: aws.String("bad-copies"), UploadId: aws.String(id)})
		if err != nil || len(lp.Parts) != 0 {
			t.Errorf("parts recorded after failed copies: %+v, %v", lp.Parts, err)
		}
	})
}
