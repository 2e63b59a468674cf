package gateway_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"testing"
	"time"
)

// TestRejectedOverwriteKeepsObject: a PUT over an existing key that fails
// verification (Content-MD5, x-amz-content-sha256, a tampered aws-chunked
// chunk, an empty body with a wrong Content-MD5) leaves the existing
// object readable and unchanged on both backends.
func TestRejectedOverwriteKeepsObject(t *testing.T) {
	original := bytes.Repeat([]byte("o"), 200<<10)
	replacement := bytes.Repeat([]byte("r"), 100<<10)
	wrongMD5 := func(r *http.Request) {
		sum := md5.Sum([]byte("something else"))
		r.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
	}
	cases := []struct {
		name string
		code string
		req  func(t *testing.T, s *stack, bucket string) *http.Request
	}{
		{"wrong Content-MD5", "BadDigest", func(t *testing.T, s *stack, bucket string) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/victim", replacement)
			wrongMD5(r)
			sign(t, r, replacement, testAccessKey, testSecretKey, time.Now())
			return r
		}},
		{"empty body, wrong Content-MD5", "BadDigest", func(t *testing.T, s *stack, bucket string) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/victim", nil)
			wrongMD5(r)
			sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
			return r
		}},
		{"payload not matching x-amz-content-sha256", "XAmzContentSHA256Mismatch", func(t *testing.T, s *stack, bucket string) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/victim", replacement)
			sign(t, r, []byte("another payload"), testAccessKey, testSecretKey, time.Now())
			return r
		}},
		{"tampered aws-chunked chunk", "SignatureDoesNotMatch", func(t *testing.T, s *stack, bucket string) *http.Request {
			return chunkedPut(t, s, bucket, "victim", replacement, true)
		}},
	}
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			s.createBucket("overwrite", bc.setup(s))
			s.put("overwrite", "victim", original)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if resp, _, e := do(t, c.req(t, s, "overwrite")); e.Code != c.code {
						t.Fatalf("got %d %s, want %s", resp.StatusCode, e.Code, c.code)
					}
					if got := s.get("overwrite", "victim"); !bytes.Equal(got, original) {
						t.Fatalf("existing object changed by a rejected overwrite: %d bytes, first %q", len(got), got[:min(len(got), 8)])
					}
				})
			}
		})
	}
}
