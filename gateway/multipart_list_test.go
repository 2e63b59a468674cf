package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestListPartsPagination(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := fsTarget(s, "mp-list-parts")
	ctx := context.Background()
	id := s.createUpload(tg.bucket, "k")
	want := map[int32]string{}
	for n := int32(1); n <= 5; n++ {
		want[n] = s.mustUploadPart(tg.bucket, "k", id, n, []byte(strings.Repeat("p", int(n))))
	}
	var got []int32
	marker := ""
	for page := 0; ; page++ {
		in := &s3.ListPartsInput{Bucket: aws.String(tg.bucket), Key: aws.String("k"), UploadId: aws.String(id), MaxParts: aws.Int32(2)}
		if marker != "" {
			in.PartNumberMarker = aws.String(marker)
		}
		out, err := s.client.ListParts(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.MaxParts) != 2 || out.StorageClass != "STANDARD" ||
			aws.ToString(out.Initiator.ID) != testAccessKey || aws.ToString(out.Owner.ID) != testAccessKey {
			t.Errorf("page %d header: max %d class %s initiator %v owner %v", page, aws.ToInt32(out.MaxParts), out.StorageClass,
				aws.ToString(out.Initiator.ID), aws.ToString(out.Owner.ID))
		}
		for _, p := range out.Parts {
			n := aws.ToInt32(p.PartNumber)
			got = append(got, n)
			if aws.ToString(p.ETag) != want[n] || aws.ToInt64(p.Size) != int64(n) || p.LastModified == nil {
				t.Errorf("part %d: etag %s size %d", n, aws.ToString(p.ETag), aws.ToInt64(p.Size))
			}
		}
		wantTrunc := page < 2
		if aws.ToBool(out.IsTruncated) != wantTrunc {
			t.Fatalf("page %d truncated = %v", page, aws.ToBool(out.IsTruncated))
		}
		if !wantTrunc {
			break
		}
		marker = aws.ToString(out.NextPartNumberMarker)
		if marker != fmt.Sprint(got[len(got)-1]) {
			t.Fatalf("NextPartNumberMarker %s after part %d", marker, got[len(got)-1])
		}
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("paged parts %v", got)
	}
	for _, q := range []string{"max-parts=-1", "max-parts=x", "part-number-marker=-2"} {
		r := s.rawRequest(http.MethodGet, "/"+tg.bucket+"/k?uploadId="+id+"&"+q, nil)
		sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
		if resp, _, e := do(t, r); resp.StatusCode != http.StatusBadRequest || e.Code != "InvalidArgument" {
			t.Errorf("%s: %d %s, want InvalidArgument", q, resp.StatusCode, e.Code)
		}
	}
}

func TestListMultipartUploadsPagination(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := fsTarget(s, "mp-list-uploads")
	ctx := context.Background()
	keys := []string{"a/1", "a/2", "b", "c", "c", "d/x/y"}
	ids := map[string]bool{}
	for _, k := range keys {
		ids[s.createUpload(tg.bucket, k)] = true
	}
	type entry struct{ key, id string }
	var got []entry
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(tg.bucket), MaxUploads: aws.Int32(2)}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) > 2 {
			t.Fatalf("page of %d uploads with max-uploads 2", len(out.Uploads))
		}
		for _, u := range out.Uploads {
			got = append(got, entry{aws.ToString(u.Key), aws.ToString(u.UploadId)})
			if aws.ToString(u.Initiator.ID) != testAccessKey || u.Initiated == nil || u.StorageClass != "STANDARD" {
				t.Errorf("upload %s: initiator %s initiated %v class %s", aws.ToString(u.Key), aws.ToString(u.Initiator.ID), u.Initiated, u.StorageClass)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	if len(got) != len(keys) {
		t.Fatalf("listed %d uploads, want %d: %v", len(got), len(keys), got)
	}
	for i, e := range got {
		if e.key != keys[i] || !ids[e.id] {
			t.Errorf("upload %d = %+v, want key %s and a created id", i, e, keys[i])
		}
		delete(ids, e.id)
	}

	out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(tg.bucket), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	if fmt.Sprint(prefixes) != "[a/ d/]" || len(out.Uploads) != 3 {
		t.Errorf("delimiter listing: prefixes %v, %d uploads", prefixes, len(out.Uploads))
	}
	out, err = s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(tg.bucket), Prefix: aws.String("a/")})
	if err != nil || len(out.Uploads) != 2 || aws.ToString(out.Prefix) != "a/" {
		t.Errorf("prefix listing: %+v, %v", out, err)
	}
	out, err = s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(tg.bucket), KeyMarker: aws.String("b")})
	if err != nil || len(out.Uploads) != 3 || aws.ToString(out.Uploads[0].Key) != "c" {
		t.Errorf("key-marker listing: %+v, %v", out, err)
	}
}

// TestListUploadsURLEncoding: encoding-type=url encodes keys the way
// ListObjects does (space as %20, '/' kept), not as a query string.
func TestListUploadsURLEncoding(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := fsTarget(s, "mp-list-enc")
	s.createUpload(tg.bucket, "dir/a b+c")
	r := s.rawRequest("GET", "/"+tg.bucket+"?uploads&encoding-type=url&prefix=dir%2F", nil)
	sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
	resp, body, _ := do(t, r)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{"<Key>dir/a%20b%2Bc</Key>", "<Prefix>dir/</Prefix>", "<EncodingType>url</EncodingType>"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %s in %s", want, body)
		}
	}
}
