package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestListObjects(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := context.Background()
	s.createBucket("list", "")
	keys := []string{"a/1", "a/2", "a/b/3", "b/1", "c", "d+e f", "z"}
	for _, k := range keys {
		s.put("list", k, []byte(k))
	}

	// v2 pagination without a delimiter walks every key in order.
	var got []string
	var token *string
	pages := 0
	for {
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(3), ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if int(aws.ToInt32(out.KeyCount)) != len(out.Contents) {
			t.Errorf("KeyCount %d, contents %d", aws.ToInt32(out.KeyCount), len(out.Contents))
		}
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
			if o.StorageClass != s3types.ObjectStorageClassStandard || !strings.HasPrefix(aws.ToString(o.ETag), `"`) ||
				aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) || o.LastModified == nil || o.Owner != nil {
				t.Errorf("entry %+v", o)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		token = out.NextContinuationToken
	}
	if strings.Join(got, ",") != strings.Join(keys, ",") || pages != 3 {
		t.Errorf("v2 walk = %v in %d pages", got, pages)
	}

	// Delimiter and prefix.
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if p := prefixes(out.CommonPrefixes); p != "a/,b/" || keysOf(out.Contents) != "c,d+e f,z" {
		t.Errorf("delimiter: prefixes %s keys %s", p, keysOf(out.Contents))
	}
	out, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String("a/"), Delimiter: aws.String("/"),
		FetchOwner: aws.Bool(true), StartAfter: aws.String("a/1")})
	if err != nil {
		t.Fatal(err)
	}
	if keysOf(out.Contents) != "a/2" || prefixes(out.CommonPrefixes) != "a/b/" || out.Contents[0].Owner == nil || aws.ToString(out.StartAfter) != "a/1" {
		t.Errorf("prefix+start-after: %s %s", keysOf(out.Contents), prefixes(out.CommonPrefixes))
	}

	// v1 with marker and NextMarker (delimiter set).
	v1, err := s.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("list"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(v1.IsTruncated) || aws.ToString(v1.NextMarker) != "b/" || prefixes(v1.CommonPrefixes) != "a/,b/" {
		t.Errorf("v1 page 1: truncated %v next %q prefixes %s", aws.ToBool(v1.IsTruncated), aws.ToString(v1.NextMarker), prefixes(v1.CommonPrefixes))
	}
	v1, err = s.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("list"), Delimiter: aws.String("/"), Marker: aws.String("b/")})
	if err != nil {
		t.Fatal(err)
	}
	if keysOf(v1.Contents) != "c,d+e f,z" || aws.ToBool(v1.IsTruncated) || v1.Contents[0].Owner == nil {
		t.Errorf("v1 page 2: %s", keysOf(v1.Contents))
	}

	// encoding-type=url: the SDK decodes it again, so compare raw XML.
	r := s.rawRequest("GET", "/list?list-type=2&encoding-type=url&prefix=d", nil)
	sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
	resp, body, _ := do(t, r)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Key>d%2Be%20f</Key>") || !strings.Contains(string(body), "<EncodingType>url</EncodingType>") {
		t.Errorf("encoding-type=url: %d %s", resp.StatusCode, body)
	}
	sdkEnc, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), EncodingType: s3types.EncodingTypeUrl, Prefix: aws.String("d")})
	// aws-sdk-go-v2 hands the encoded key through as sent.
	if err != nil || keysOf(sdkEnc.Contents) != "d%2Be%20f" {
		t.Errorf("SDK with encoding-type=url: %v %v", keysOf(sdkEnc.Contents), err)
	}

	// max-keys 0 and invalid values.
	zero, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(0)})
	if err != nil || len(zero.Contents) != 0 {
		t.Errorf("max-keys=0: %v %v", zero, err)
	}
	for _, q := range []string{"max-keys=-1", "max-keys=abc", "encoding-type=base64", "continuation-token=%21%21"} {
		r := s.rawRequest("GET", "/list?list-type=2&"+q, nil)
		sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
		if resp, _, e := do(t, r); resp.StatusCode != http.StatusBadRequest || e.Code != "InvalidArgument" {
			t.Errorf("%s: %d %s", q, resp.StatusCode, e.Code)
		}
	}
	_, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nolist")})
	if code := errorCode(err); code != "NoSuchBucket" {
		t.Errorf("missing bucket: %s", code)
	}
}

// TestListIgnoresBackend checks that listings come from the index: an
// object written to the backing bucket behind strata's back is not listed.
func TestListIgnoresBackend(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := context.Background()
	s.createBucket("idx", "")
	s.put("idx", "indexed", []byte("x"))
	be, name := s.backing("idx")
	if _, err := be.PutObject(ctx, name, "foreign", strings.NewReader("y"), 1, backendMeta()); err != nil {
		t.Fatal(err)
	}
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("idx")})
	if err != nil || keysOf(out.Contents) != "indexed" {
		t.Errorf("listing = %s, %v", keysOf(out.Contents), err)
	}
}

func keysOf(objs []s3types.Object) string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, aws.ToString(o.Key))
	}
	return strings.Join(ks, ",")
}

func prefixes(ps []s3types.CommonPrefix) string {
	var out []string
	for _, p := range ps {
		out = append(out, aws.ToString(p.Prefix))
	}
	return strings.Join(out, ",")
}
