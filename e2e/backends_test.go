package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stratagw/strata/internal/testenv"
)

// addS3Backend registers a versitygw server as backend `name` through the
// CLI and renames its region to `region`.
func addS3Backend(t *testing.T, n *node, srv testenv.S3Server, name, region string) {
	t.Helper()
	n.mustCLI("admin", "backend", "add", "--name", name, "--type", "s3",
		"--endpoint", srv.Endpoint, "--region", srv.Region,
		"--access-key", srv.AccessKey, "--secret-key", srv.SecretKey, "--path-style")
	n.mustCLI("admin", "region", "rename", srv.Region, region)
}

// backingBucketOn returns the backend bucket that holds virtual bucket b.
func backingBucketOn(t *testing.T, direct *s3.Client, b string) string {
	t.Helper()
	out, err := direct.ListBuckets(ctxT(t), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range out.Buckets {
		if strings.HasPrefix(aws.ToString(bk.Name), b+"-") {
			return aws.ToString(bk.Name)
		}
	}
	t.Fatalf("no backing bucket %s-<id> on the backend", b)
	return ""
}

// TestS3BackendNativeFormat: an object written through strata to an s3
// backend is an ordinary object in <bucket>-<id> on that server, and the
// backend's secret never appears in CLI output.
func TestS3BackendNativeFormat(t *testing.T) {
	n := startNode(t)
	srv := testenv.Versitygw(t)
	addS3Backend(t, n, srv, "gw1", "remote")

	list := n.mustCLI("admin", "backend", "list")
	if strings.Contains(list, srv.SecretKey) {
		t.Fatalf("backend list printed the secret key:\n%s", list)
	}
	var regions any
	if err := json.Unmarshal([]byte(n.mustCLI("admin", "region", "list", "--json")), &regions); err != nil {
		t.Fatalf("region list --json is not JSON: %v", err)
	}
	if !strings.Contains(n.mustCLI("admin", "region", "list"), "remote") {
		t.Fatal("renamed region missing from region list")
	}

	ctx := ctxT(t)
	c := n.client()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("native"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "remote"}})
	if err != nil {
		t.Fatal(err)
	}
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("native")})
	if err != nil {
		t.Fatal(err)
	}
	if loc.LocationConstraint != "remote" {
		t.Fatalf("location = %q, want remote", loc.LocationConstraint)
	}
	body := []byte("stored natively on the backend")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("native"), Key: aws.String("dir/a b+c.txt"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/plain"), Metadata: map[string]string{"color": "blue"}}); err != nil {
		t.Fatal(err)
	}

	direct := testenv.S3Client(t, srv)
	backing := backingBucketOn(t, direct, "native")
	got, err := direct.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(backing), Key: aws.String("dir/a b+c.txt")})
	if err != nil {
		t.Fatalf("object not on the backend under its own key: %v", err)
	}
	if b := readAll(t, got.Body); !bytes.Equal(b, body) {
		t.Fatalf("backend holds %q, want %q", b, body)
	}
	if got.Metadata["color"] != "blue" || aws.ToString(got.ContentType) != "text/plain" {
		t.Fatalf("metadata not stored natively: %v %q", got.Metadata, aws.ToString(got.ContentType))
	}

	// Deleting the virtual bucket removes the backing bucket.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("native"), Key: aws.String("dir/a b+c.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("native")}); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(backing)}); err == nil {
		t.Fatal("backing bucket still exists after DeleteBucket")
	}
	// The backend is unused again, so it can be removed.
	n.mustCLI("admin", "backend", "remove", "gw1")
}

// slowReader yields size bytes slowly and calls stopAt once half is sent.
type slowReader struct {
	left, half int64
	onHalf     func()
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	_, _ = rand.Read(p)
	r.left -= int64(len(p))
	if r.onHalf != nil && r.left <= r.half {
		r.onHalf()
		r.onHalf = nil
		time.Sleep(200 * time.Millisecond)
	}
	return len(p), nil
}

// TestBackendDownMidPut: the backend dies while a PUT streams through
// strata; the client gets an error (503 when strata can still answer), and
// no object record is left.
func TestBackendDownMidPut(t *testing.T) {
	n := startNode(t)
	srv := testenv.Versitygw(t)
	addS3Backend(t, n, srv, "fragile", "fragile")
	ctx := ctxT(t)
	c := n.client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("fragile"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "fragile"}}); err != nil {
		t.Fatal(err)
	}
	const size = 32 << 20
	r := &slowReader{left: size, half: size / 2, onHalf: srv.Stop}
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("fragile"), Key: aws.String("big"),
		Body: r, ContentLength: aws.Int64(size)})
	if err == nil {
		t.Fatal("PUT succeeded although the backend died mid-stream")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() != "ServiceUnavailable" {
		t.Fatalf("error code = %s, want ServiceUnavailable (%v)", ae.ErrorCode(), err)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("fragile")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Fatalf("a failed PUT left %d object record(s)", len(out.Contents))
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("fragile"), Key: aws.String("big")}); err == nil {
		t.Fatal("HeadObject found the failed PUT's object")
	}
	// With the backend down, a new PUT is refused with 503 and nothing committed.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("fragile"), Key: aws.String("small"),
		Body: bytes.NewReader([]byte("x")), ContentLength: aws.Int64(1)})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Fatalf("PUT to a dead backend: %v, want ServiceUnavailable", err)
	}
}
