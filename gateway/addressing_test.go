package gateway_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestVirtualHostedStyle addresses a bucket through the Host header.
func TestVirtualHostedStyle(t *testing.T) {
	s := newStack(t, stackOptions{domains: []string{"s3.strata.test"}})
	s.createBucket("vhost", "")
	port := s.url[strings.LastIndex(s.url, ":")+1:]
	body := []byte("hosted")
	r := s.rawRequest("PUT", "/dir/obj", body)
	r.Host = "vhost.s3.strata.test:" + port
	sign(t, r, body, testAccessKey, testSecretKey, time.Now())
	if resp, _, e := do(t, r); resp.StatusCode != 200 {
		t.Fatalf("virtual-hosted PUT: %d %s", resp.StatusCode, e.Code)
	}
	if got := string(s.get("vhost", "dir/obj")); got != "hosted" {
		t.Errorf("path-style read of a virtual-hosted write: %q", got)
	}
	r = s.rawRequest("GET", "/?list-type=2", nil)
	r.Host = "vhost.s3.strata.test:" + port
	sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
	resp, body, _ := do(t, r)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Key>dir/obj</Key>") {
		t.Errorf("virtual-hosted list: %d %s", resp.StatusCode, body)
	}
	// The bare domain is path-style: GET / lists buckets.
	r = s.rawRequest("GET", "/", nil)
	r.Host = "s3.strata.test:" + port
	sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
	resp, body, _ = do(t, r)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Name>vhost</Name>") {
		t.Errorf("bare domain ListBuckets: %d %s", resp.StatusCode, body)
	}
}

// TestVirtualHostedSDK drives the SDK in virtual-hosted style: every
// request goes to "<bucket>.s3.strata.test", resolved to the test node.
func TestVirtualHostedSDK(t *testing.T) {
	s := newStack(t, stackOptions{domains: []string{"s3.strata.test"}})
	addr := strings.TrimPrefix(s.url, "http://")
	port := addr[strings.LastIndex(addr, ":")+1:]
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	})
	c := s3.New(s.client.Options(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String("http://s3.strata.test:" + port)
		o.UsePathStyle = false
		o.HTTPClient = hc
	})
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("hosted")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("hosted"), Key: aws.String("a/b c"), Body: strings.NewReader("vh")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("hosted")})
	if err != nil || keysOf(out.Contents) != "a/b c" {
		t.Errorf("ListObjectsV2: %v %v", keysOf(out.Contents), err)
	}
	if got := string(s.get("hosted", "a/b c")); got != "vh" {
		t.Errorf("path-style read: %q", got)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("hosted"), Key: aws.String("a/b c")}); err != nil {
		t.Errorf("DeleteObject: %v", err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("hosted")}); err != nil {
		t.Errorf("DeleteBucket: %v", err)
	}
}

// TestResponseHeaders checks the ids every response carries.
func TestResponseHeaders(t *testing.T) {
	s := newStack(t, stackOptions{})
	r := s.rawRequest("GET", "/", nil)
	sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
	resp, _, _ := do(t, r)
	if resp.StatusCode != http.StatusOK || len(resp.Header.Get("X-Amz-Request-Id")) != 16 || resp.Header.Get("X-Amz-Id-2") == "" {
		t.Errorf("ListBuckets: %d, headers %v", resp.StatusCode, resp.Header)
	}
	_, err := s.client.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("nope")})
	if httpStatus(err) != 404 {
		t.Errorf("HeadBucket missing: %v", err)
	}
}
