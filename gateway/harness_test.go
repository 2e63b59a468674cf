package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/pool"
	"github.com/stratagw/strata/internal/testenv"
	"github.com/stratagw/strata/server"
)

const (
	testAccessKey = "AKIASTRATATEST000001"
	testSecretKey = "strata-test-secret-key-0123456789abcdef"
	testRegion    = "us-east-1"
)

// stack is one in-process strata node with an S3 client for it.
type stack struct {
	t      testing.TB
	srv    *server.Server
	client *s3.Client
	url    string
	dir    string
}

// stackOptions tweak the node.
type stackOptions struct {
	maxObjectSize int64
	domains       []string
}

// newStack starts a bootstrapped single node with the development fs
// backend ("local", the default region).
func newStack(t testing.TB, opts stackOptions) *stack {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("STRATA_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		NodeID:         "n1",
		DataDir:        dir,
		S3Addr:         "127.0.0.1:0",
		AdminAddr:      "127.0.0.1:0",
		RaftAddr:       "127.0.0.1:0",
		Bootstrap:      true,
		ClusterKey:     key,
		AdminAccessKey: testAccessKey,
		AdminSecretKey: testSecretKey,
		DevBackend:     true,
		FSLockdown:     false,
		Domains:        opts.domains,
		MaxObjectSize:  opts.maxObjectSize,
		Logger:         logger,
	})
	if err != nil {
		t.Fatalf("start strata: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close strata: %v", err)
		}
	})
	s := &stack{t: t, srv: srv, url: srv.S3URL(), dir: dir}
	s.client = testenv.S3Client(t, testenv.S3Server{Endpoint: s.url, AccessKey: testAccessKey, SecretKey: testSecretKey, Region: testRegion})
	return s
}

// addVersitygwBackend starts a real versitygw and adds it as an s3 backend;
// it returns the server and the name of its virtual region.
func (s *stack) addVersitygwBackend(name string) (testenv.S3Server, string) {
	s.t.Helper()
	vgw := testenv.Versitygw(s.t)
	ac, err := client.New(s.srv.AdminURL(), testAccessKey, testSecretKey)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx := context.Background()
	be, err := ac.AddBackend(ctx, api.AddBackend{
		Name: name, Type: "s3", Endpoint: vgw.Endpoint, Region: vgw.Region, PathStyle: true,
		AccessKey: vgw.AccessKey, SecretKey: vgw.SecretKey,
	})
	if err != nil {
		s.t.Fatalf("add s3 backend: %v", err)
	}
	regions, err := ac.Regions(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, r := range regions {
		for _, b := range r.Backings {
			if b.BackendID == be.ID {
				return vgw, r.Name
			}
		}
	}
	s.t.Fatalf("no region for backend %s in %+v", be.ID, regions)
	return vgw, ""
}

// createBucket creates a bucket, in region when not empty.
func (s *stack) createBucket(name, region string) {
	s.t.Helper()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := s.client.CreateBucket(context.Background(), in); err != nil {
		s.t.Fatalf("create bucket %s: %v", name, err)
	}
}

// put stores an object with the SDK.
func (s *stack) put(bucket, key string, body []byte) {
	s.t.Helper()
	_, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		s.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// get reads an object's bytes with the SDK.
func (s *stack) get(bucket, key string) []byte {
	s.t.Helper()
	out, err := s.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		s.t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		s.t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b
}

// backing opens the backend that holds bucket's bytes directly (not
// through strata) and returns it with the backing bucket name.
func (s *stack) backing(bucket string) (backend.Backend, string) {
	s.t.Helper()
	b, ok, err := s.srv.State().Bucket(bucket)
	if err != nil || !ok {
		s.t.Fatalf("bucket record %s: ok=%v err=%v", bucket, ok, err)
	}
	bb := b.Backings[0]
	rec, ok, err := s.srv.State().Backend(bb.BackendID)
	if err != nil || !ok {
		s.t.Fatalf("backend record %s: %v", bb.BackendID, err)
	}
	cfg := backend.Config{Type: rec.Type, Path: rec.Path, Endpoint: rec.Endpoint, Region: rec.Region, PathStyle: rec.PathStyle, AccessKey: rec.AccessKey}
	if rec.Type == "s3" {
		// The only s3 backends in these tests are testenv's versitygw.
		cfg.SecretKey = "testenvsecretkey0123456789"
	}
	be, err := pool.Open(context.Background(), cfg)
	if err != nil {
		s.t.Fatalf("open backend directly: %v", err)
	}
	s.t.Cleanup(func() { _ = be.Close() })
	return be, bb.Name
}

// assertAbsent checks that key left nothing: no record (via the S3
// listing, which is served from the FSM) and no backing object.
func (s *stack) assertAbsent(bucket, key string) {
	s.t.Helper()
	out, err := s.client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		s.t.Fatalf("list %s: %v", bucket, err)
	}
	for _, o := range out.Contents {
		if aws.ToString(o.Key) == key {
			s.t.Errorf("record for %s/%s exists after a failed request", bucket, key)
		}
	}
	if len(key) > 1024 {
		// No backend can even address such a key.
		return
	}
	be, name := s.backing(bucket)
	if _, err := be.HeadObject(context.Background(), name, key); !errors.Is(err, backend.ErrNotFound) {
		s.t.Errorf("backing object %s/%s: err = %v, want not found", name, key, err)
	}
}

// errorCode extracts the S3 error code of an SDK error.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return "non-API error: " + err.Error()
}

// rawRequest builds a request to the stack (path is already escaped).
func (s *stack) rawRequest(method, path string, body []byte) *http.Request {
	s.t.Helper()
	r, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body == nil {
		r.Body = http.NoBody
	}
	return r
}

// sign signs r with SigV4 (header) for payload, at time at.
func sign(t *testing.T, r *http.Request, payload []byte, accessKey, secretKey string, at time.Time) {
	t.Helper()
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	r.Header.Set("X-Amz-Content-Sha256", hash)
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, r, hash, "s3", testRegion, at)
	if err != nil {
		t.Fatal(err)
	}
}

// do sends r and decodes an S3 error document, if any.
func do(t *testing.T, r *http.Request) (*http.Response, []byte, s3Error) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e s3Error
	if resp.StatusCode >= 300 && len(body) > 0 {
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s %s: status %d, body is not an S3 error: %q", r.Method, r.URL, resp.StatusCode, body)
		}
	}
	return resp, body, e
}

// s3Error is the S3 error document.
type s3Error struct {
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
	Resource  string `xml:"Resource"`
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
}

// escapeKey escapes a key for a URL path, keeping '/'.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
