package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestRestartKeepsEverything: buckets, objects and the admin credential
// survive a restart of the process, and the node does not bootstrap twice.
func TestRestartKeepsEverything(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	c := n.client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("persist")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("persist"), Key: aws.String(fmt.Sprintf("k%03d", i)),
			Body: strings.NewReader(fmt.Sprintf("value %d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	n.restart()
	n.restart() // twice: the second start replays on top of a restarted log
	c = n.client()
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("persist")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 50 {
		t.Fatalf("after restart: %d objects, want 50", len(out.Contents))
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("persist"), Key: aws.String("k042")})
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, got.Body); string(b) != "value 42" {
		t.Fatalf("k042 = %q", b)
	}
}

// TestAWSCLIMultipart: the aws CLI switches to multipart above 8 MiB; a
// 40 MiB file round-trips byte for byte, and `aws s3 sync`/`rm` work.
func TestAWSCLIMultipart(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("aws CLI not found: `make aws-cli` installs Debian's awscli")
	}
	n := startNode(t)
	work := t.TempDir()
	data := make([]byte, 40<<20+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	aws := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("aws", append([]string{"--endpoint-url", n.s3URL()}, args...)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+n.AccessKey, "AWS_SECRET_ACCESS_KEY="+n.SecretKey,
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s\nstrata log:\n%s", strings.Join(args, " "), err, out, n.out.String())
		}
		return string(out)
	}
	aws("s3", "mb", "s3://cli")
	aws("s3", "cp", "big.bin", "s3://cli/big.bin")
	aws("s3", "cp", "s3://cli/big.bin", "back.bin")
	back, err := os.ReadFile(filepath.Join(work, "back.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(back) != sha256.Sum256(data) {
		t.Fatal("multipart round trip changed the bytes")
	}
	head := aws("s3api", "head-object", "--bucket", "cli", "--key", "big.bin")
	if !strings.Contains(head, "-") || !strings.Contains(head, "ETag") {
		t.Fatalf("expected a multipart ETag (md5-N):\n%s", head)
	}
	if err := os.MkdirAll(filepath.Join(work, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tree/a.txt", "tree/sub/b.txt"} {
		if err := os.WriteFile(filepath.Join(work, f), bytes.Repeat([]byte(f), 100), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	aws("s3", "sync", "tree", "s3://cli/tree")
	ls := aws("s3", "ls", "--recursive", "s3://cli/tree/")
	if !strings.Contains(ls, "tree/sub/b.txt") || !strings.Contains(ls, "tree/a.txt") {
		t.Fatalf("sync result not listed:\n%s", ls)
	}
	aws("s3", "rm", "--recursive", "s3://cli/")
	aws("s3", "rb", "s3://cli")
}
