package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// badCase is one request that must fail with an exact S3 error and leave
// no object behind.
type badCase struct {
	name   string
	key    string // object the request tries to create ("" for none)
	req    func(t *testing.T, s *stack) *http.Request
	status int
	code   string
}

func putBody() []byte { return []byte("the object body") }

// signedPut is a correctly signed PUT of key with body.
func signedPut(t *testing.T, s *stack, bucket, key string, body []byte) *http.Request {
	r := s.rawRequest("PUT", "/"+bucket+"/"+escapeKey(key), body)
	sign(t, r, body, testAccessKey, testSecretKey, time.Now())
	return r
}

func badCases(bucket string) []badCase {
	body := putBody()
	return []badCase{
		{"anonymous", "anon", func(t *testing.T, s *stack) *http.Request {
			return s.rawRequest("PUT", "/"+bucket+"/anon", body)
		}, 403, "AccessDenied"},
		{"anonymous list", "", func(t *testing.T, s *stack) *http.Request {
			return s.rawRequest("GET", "/"+bucket, nil)
		}, 403, "AccessDenied"},
		{"malformed authorization", "malformed", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/malformed", body)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage")
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			r.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			return r
		}, 400, "AuthorizationHeaderMalformed"},
		{"wrong secret", "wrongsecret", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/wrongsecret", body)
			sign(t, r, body, testAccessKey, "not-the-secret", time.Now())
			return r
		}, 403, "SignatureDoesNotMatch"},
		{"unknown key id", "unknownkey", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/unknownkey", body)
			sign(t, r, body, "AKIANOSUCHKEY0000000", testSecretKey, time.Now())
			return r
		}, 403, "InvalidAccessKeyId"},
		{"expired presign", "expired", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/expired?X-Amz-Expires=60", nil)
			signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(),
				aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}, r, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now().Add(-2*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			pr, _ := http.NewRequest("PUT", signed, bytes.NewReader(body))
			for k, v := range hdr {
				if k != "Host" {
					pr.Header[k] = v
				}
			}
			return pr
		}, 403, "AccessDenied"},
		{"skewed clock", "skewed", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/skewed", body)
			sign(t, r, body, testAccessKey, testSecretKey, time.Now().Add(-20*time.Minute))
			return r
		}, 403, "RequestTimeTooSkewed"},
		{"wrong Content-MD5", "badmd5", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/badmd5", body)
			sum := md5.Sum([]byte("something else"))
			r.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
			sign(t, r, body, testAccessKey, testSecretKey, time.Now())
			return r
		}, 400, "BadDigest"},
		{"malformed Content-MD5", "invalidmd5", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/invalidmd5", body)
			r.Header.Set("Content-Md5", "not-base64!")
			sign(t, r, body, testAccessKey, testSecretKey, time.Now())
			return r
		}, 400, "InvalidDigest"},
		{"payload does not match x-amz-content-sha256", "badsha", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/badsha", body)
			sign(t, r, []byte("a different payload"), testAccessKey, testSecretKey, time.Now())
			return r
		}, 400, "XAmzContentSHA256Mismatch"},
		{"tampered aws-chunked chunk", "tampered", func(t *testing.T, s *stack) *http.Request {
			return chunkedPut(t, s, bucket, "tampered", bytes.Repeat([]byte("c"), 100<<10), true)
		}, 403, "SignatureDoesNotMatch"},
		{"key over 1024 bytes", strings.Repeat("k", 1025), func(t *testing.T, s *stack) *http.Request {
			return signedPut(t, s, bucket, strings.Repeat("k", 1025), body)
		}, 400, "KeyTooLongError"},
		{"key not UTF-8", "", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/h%FF", body)
			sign(t, r, body, testAccessKey, testSecretKey, time.Now())
			return r
		}, 400, "InvalidURI"},
		{"server-side encryption requested", "sse", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/sse", body)
			r.Header.Set("X-Amz-Server-Side-Encryption", "aws:kms")
			sign(t, r, body, testAccessKey, testSecretKey, time.Now())
			return r
		}, 501, "NotImplemented"},
		{"conditional write", "", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/keep", []byte("clobbered"))
			r.Header.Set("If-None-Match", "*")
			sign(t, r, []byte("clobbered"), testAccessKey, testSecretKey, time.Now())
			return r
		}, 501, "NotImplemented"},
		{"object too large", "huge", func(t *testing.T, s *stack) *http.Request {
			return signedPut(t, s, bucket, "huge", bytes.Repeat([]byte("h"), 1<<20+1))
		}, 400, "EntityTooLarge"},
		{"missing content length", "nolength", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"/nolength", nil)
			r.ContentLength = -1
			r.Body = io.NopCloser(struct{ io.Reader }{bytes.NewReader(body)})
			r.TransferEncoding = []string{"chunked"}
			sign(t, r, body, testAccessKey, testSecretKey, time.Now())
			return r
		}, 411, "MissingContentLength"},
		{"no such bucket", "", func(t *testing.T, s *stack) *http.Request {
			return signedPut(t, s, "no-such-bucket", "k", body)
		}, 404, "NoSuchBucket"},
		{"not implemented sub-resource", "", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("PUT", "/"+bucket+"?lifecycle", []byte("<LifecycleConfiguration/>"))
			sign(t, r, []byte("<LifecycleConfiguration/>"), testAccessKey, testSecretKey, time.Now())
			return r
		}, 501, "NotImplemented"},
		{"malformed Delete XML", "", func(t *testing.T, s *stack) *http.Request {
			b := []byte("<Delete><Object><Key>a</Key>")
			r := s.rawRequest("POST", "/"+bucket+"?delete", b)
			sign(t, r, b, testAccessKey, testSecretKey, time.Now())
			return r
		}, 400, "MalformedXML"},
		{"bucket not empty", "", func(t *testing.T, s *stack) *http.Request {
			r := s.rawRequest("DELETE", "/"+bucket, nil)
			sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
			return r
		}, 409, "BucketNotEmpty"},
	}
}

func TestBadInput(t *testing.T) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{maxObjectSize: 1 << 20})
			region := bc.setup(s)
			s.createBucket("bad", region)
			s.put("bad", "keep", []byte("keep"))
			for _, c := range badCases("bad") {
				t.Run(c.name, func(t *testing.T) {
					r := c.req(t, s)
					resp, _, e := do(t, r)
					if resp.StatusCode != c.status || e.Code != c.code {
						t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, e.Code, e.Message, c.status, c.code)
					}
					if e.RequestID == "" || e.RequestID != resp.Header.Get("X-Amz-Request-Id") || e.HostID == "" || e.Resource == "" {
						t.Errorf("error document lacks ids: %+v, header %q", e, resp.Header.Get("X-Amz-Request-Id"))
					}
					if c.key != "" {
						s.assertAbsent("bad", c.key)
					}
				})
			}
			if got := string(s.get("bad", "keep")); got != "keep" {
				t.Errorf("existing object damaged: %q", got)
			}
		})
	}
}

// TestShortBody sends fewer bytes than Content-Length and closes the
// connection: IncompleteBody, nothing stored.
func TestShortBody(t *testing.T) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			s.createBucket("short", bc.setup(s))
			full := bytes.Repeat([]byte("s"), 64<<10)
			r := s.rawRequest("PUT", "/short/partial", full)
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey},
				r, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			r.Body = io.NopCloser(struct{ io.Reader }{bytes.NewReader(full[:1000])})
			conn, err := net.Dial("tcp", r.URL.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = r.Write(conn) // fails on purpose: the body is shorter than Content-Length
			_ = conn.(*net.TCPConn).CloseWrite()
			resp, err := http.ReadResponse(bufio.NewReader(conn), r)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e s3Error
			_ = xml.Unmarshal(b, &e)
			if resp.StatusCode != 400 || e.Code != "IncompleteBody" {
				t.Errorf("got %d %s (%s), want 400 IncompleteBody", resp.StatusCode, e.Code, b)
			}
			s.assertAbsent("short", "partial")
		})
	}
}

func TestInvalidBucketNames(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, name := range []string{"ab", "Bad_Name", "192.168.1.1", "a..b", "-lead", "trail-", strings.Repeat("x", 64), "xn--punycode", "name-s3alias"} {
		r := s.rawRequest("PUT", "/"+name, nil)
		sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
		resp, _, e := do(t, r)
		if resp.StatusCode != 400 || e.Code != "InvalidBucketName" {
			t.Errorf("%q: %d %s", name, resp.StatusCode, e.Code)
		}
		if _, ok, _ := s.srv.State().Bucket(name); ok {
			t.Errorf("%q: bucket record created", name)
		}
	}
	before := backingBuckets(t, s)
	b := []byte("<CreateBucketConfiguration><LocationConstraint>")
	r := s.rawRequest("PUT", "/good-name", b)
	sign(t, r, b, testAccessKey, testSecretKey, time.Now())
	if resp, _, e := do(t, r); resp.StatusCode != 400 || e.Code != "MalformedXML" {
		t.Errorf("malformed CreateBucketConfiguration: %d %s", resp.StatusCode, e.Code)
	}
	if _, ok, _ := s.srv.State().Bucket("good-name"); ok || backingBuckets(t, s) != before {
		t.Error("malformed CreateBucket left a bucket behind")
	}
}

// TestFSKeyEscape: keys that would leave the fs backend's root are refused
// and leave nothing.
func TestFSKeyEscape(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("esc", "")
	for _, key := range []string{"../../escape", "a/../../b"} {
		r := s.rawRequest("PUT", "/esc/"+key, []byte("x"))
		sign(t, r, []byte("x"), testAccessKey, testSecretKey, time.Now())
		resp, _, e := do(t, r)
		if resp.StatusCode != 400 || e.Code != "InvalidObjectName" {
			t.Errorf("%q: %d %s", key, resp.StatusCode, e.Code)
		}
		out, err := s.client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("esc")})
		if err != nil || len(out.Contents) != 0 {
			t.Errorf("%q: listing after refusal: %v %v", key, keysOf(out.Contents), err)
		}
	}
}

// backingBuckets counts the dev fs backend's backing buckets.
func backingBuckets(t *testing.T, s *stack) int {
	s.createBucket("probe-bucket", "")
	be, _ := s.backing("probe-bucket")
	names, err := be.ListBuckets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String("probe-bucket")}); err != nil {
		t.Fatal(err)
	}
	return len(names) - 1
}
