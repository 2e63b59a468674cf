package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestGetPartNumber reads a multipart object part by part, as parallel
// downloaders do.
func TestGetPartNumber(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("parts", "")
	ctx := context.Background()
	part1 := bytes.Repeat([]byte("1"), 5<<20)
	part2 := []byte("the short last part")
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	var done []s3types.CompletedPart
	for i, p := range [][]byte{part1, part2} {
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("parts"), Key: aws.String("mp"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("mp"),
		UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	s.put("parts", "single", []byte("just one part"))

	for _, c := range []struct {
		key   string
		n     int32
		want  []byte
		count int32
	}{
		{"mp", 1, part1, 2},
		{"mp", 2, part2, 2},
		{"single", 1, []byte("just one part"), 0},
	} {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String(c.key), PartNumber: aws.Int32(c.n)})
		if err != nil {
			t.Errorf("%s part %d: %v", c.key, c.n, err)
			continue
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(b, c.want) || aws.ToInt32(out.PartsCount) != c.count {
			t.Errorf("%s part %d: %d bytes, parts count %d", c.key, c.n, len(b), aws.ToInt32(out.PartsCount))
		}
		head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("parts"), Key: aws.String(c.key), PartNumber: aws.Int32(c.n)})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(len(c.want)) {
			t.Errorf("HEAD %s part %d: %v %v", c.key, c.n, head, err)
		}
	}
	_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("mp"), PartNumber: aws.Int32(3)})
	if code := errorCode(err); code != "InvalidPartNumber" || httpStatus(err) != 416 {
		t.Errorf("part 3 of 2: %s %d", code, httpStatus(err))
	}
	r := s.rawRequest("GET", "/parts/mp?partNumber=1", nil)
	r.Header.Set("Range", "bytes=0-1")
	sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
	if resp, _, e := do(t, r); resp.StatusCode != http.StatusBadRequest || e.Code != "InvalidRequest" {
		t.Errorf("partNumber with Range: %d %s", resp.StatusCode, e.Code)
	}
}
