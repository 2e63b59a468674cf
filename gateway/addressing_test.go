package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
