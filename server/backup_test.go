package server

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/iam"
	"github.com/stratagw/strata/internal/sealbox"
	"github.com/stratagw/strata/internal/testenv"
)

const (
	backupAK = "SKBACKUPADMIN0000001"
	backupSK = "backup-admin-secret-0123456789abcdefghi"
)

// backupNode is a running node with S3 and admin clients signed with the
// admin credential.
type backupNode struct {
	*Server
	s3    *s3.Client
	admin *client.Client
}

func startBackupNode(t *testing.T, cfg Config) *backupNode {
	t.Helper()
	s := start(t, cfg)
	c, err := client.New(s.AdminURL(), backupAK, backupSK)
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.New(s3.Options{
		BaseEndpoint: aws.String(s.S3URL()), Region: "us-east-1", UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider(backupAK, backupSK, ""),
		HTTPClient:       awshttp.NewBuildableClient(),
		RetryMaxAttempts: 1,
	})
	return &backupNode{Server: s, s3: s3c, admin: c}
}

func (n *backupNode) put(ctx context.Context, t *testing.T, bucket, key, body string) {
	t.Helper()
	if _, err := n.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// contents lists a bucket and reads every object: key → body.
func (n *backupNode) contents(ctx context.Context, t *testing.T, bucket string) map[string]string {
	t.Helper()
	out, err := n.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list %s: %v", bucket, err)
	}
	got := map[string]string{}
	for _, o := range out.Contents {
		r, err := n.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatalf("get %s/%s: %v", bucket, *o.Key, err)
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			t.Fatalf("read %s/%s: %v", bucket, *o.Key, err)
		}
		got[*o.Key] = string(b)
	}
	return got
}

func sameContents(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d objects %v, want %d %v", what, len(got), keys(got), len(want), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: %q = %q, want %q", what, k, got[k], v)
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// keyCheck is the restore's proof that the key opens the snapshot's
// sealed credentials (as `strata restore` does).
func keyCheck(key []byte) func(*fsm.FSM) error {
	return func(f *fsm.FSM) error {
		box, err := sealbox.New(key)
		if err != nil {
			return err
		}
		_, secret, ok, err := iam.NewStore(f, box).Lookup(context.Background(), backupAK)
		if err != nil {
			return err
		}
		if !ok || secret != backupSK {
			return errors.New("the snapshot lacks the admin credential")
		}
		return nil
	}
}

// TestBackupAndRestore fills a node (fs and s3 backends, buckets,
// objects), saves a snapshot through the admin API, stops the node,
// restores the snapshot into a new data directory and bootstraps a new
// cluster on it: everything is there, the admin credential and the sealed
// s3 secret work, and new writes are applied and survive a restart (the
// restored applied index does not make the new log's entries look old).
func TestBackupAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	vgw := testenv.Versitygw(t)
	root := t.TempDir()
	oldDir, newDir := filepath.Join(root, "old"), filepath.Join(root, "new")

	cfg := testConfig(oldDir)
	cfg.AdminAccessKey, cfg.AdminSecretKey = backupAK, backupSK
	n := startBackupNode(t, cfg)
	be, err := n.admin.AddBackend(ctx, api.AddBackend{
		Name: "vgw", Type: "s3", Endpoint: vgw.Endpoint, Region: vgw.Region,
		AccessKey: vgw.AccessKey, SecretKey: vgw.SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("pics")}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("far"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(be.Regions[0])}}); err != nil {
		t.Fatal(err)
	}
	pics := map[string]string{"a.jpg": "aaa", "dir/b.jpg": "bbbb", "dir/sub/c.jpg": strings.Repeat("c", 70000)}
	for k, v := range pics {
		n.put(ctx, t, "pics", k, v)
	}
	far := map[string]string{"remote.txt": "on versitygw"}
	n.put(ctx, t, "far", "remote.txt", far["remote.txt"])
	before, _, _ := n.State().Config()

	snapPath := filepath.Join(root, "snap.db")
	snapFile, err := os.OpenFile(snapPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	info, err := n.admin.Snapshot(ctx, snapFile)
	if cerr := snapFile.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if info.ClusterID != before.ClusterID || info.AppliedIndex != n.State().AppliedIndex() {
		t.Fatalf("snapshot %+v; node at %d in cluster %s", info, n.State().AppliedIndex(), before.ClusterID)
	}
	// A write after the snapshot is not in it.
	n.put(ctx, t, "pics", "after-snapshot", "lost")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	restore := func(dir string, key []byte) (fsm.BackupInfo, error) {
		f, err := os.Open(snapPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return fsm.ImportBackup(filepath.Join(dir, "fsm", "state.db"), f, keyCheck(key))
	}
	// Refusals leave nothing behind.
	if _, err := restore(newDir, []byte("another-key-another-key-another-")); !errors.Is(err, sealbox.ErrOpen) {
		t.Fatalf("restore with another key: %v, want sealbox.ErrOpen", err)
	}
	if _, err := os.Stat(newDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused restore left %s: %v", newDir, err)
	}
	if _, err := restore(oldDir, testKey); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("restore over the old node's state: %v, want fs.ErrExist", err)
	}
	got, err := restore(newDir, testKey)
	if err != nil || got.ClusterID != info.ClusterID || got.AppliedIndex != info.AppliedIndex {
		t.Fatalf("restore: %+v, %v", got, err)
	}

	// The dev backend's files stay where the old node had them: the new
	// node is allowed that root as an operator would configure it.
	cfg2 := testConfig(newDir)
	cfg2.AdminAccessKey, cfg2.AdminSecretKey = backupAK, backupSK
	cfg2.FSAllowedRoots = []string{filepath.Join(oldDir, "fs")}
	r := startBackupNode(t, cfg2)
	if r.Initialized() {
		t.Fatal("the restored node initialised a new cluster instead of using the restored one")
	}
	after, _, _ := r.State().Config()
	if after.ClusterID != before.ClusterID || after.DefaultRegion != before.DefaultRegion {
		t.Fatalf("restored config %+v, want %+v", after, before)
	}
	if names := backends(t, r.Server, backupAK, backupSK); len(names) != 2 {
		t.Fatalf("backends after restore: %v (a second dev backend?)", names)
	}
	sameContents(t, "pics after restore", r.contents(ctx, t, "pics"), pics)
	sameContents(t, "far after restore", r.contents(ctx, t, "far"), far) // the s3 secret unsealed

	// New writes through the restored cluster, on both backends.
	pics["new.jpg"], far["new.txt"] = "written after the restore", "also on versitygw"
	r.put(ctx, t, "pics", "new.jpg", pics["new.jpg"])
	r.put(ctx, t, "far", "new.txt", far["new.txt"])
	if _, err := r.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pics"), Key: aws.String("a.jpg")}); err != nil {
		t.Fatal(err)
	}
	delete(pics, "a.jpg")
	if _, err := r.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("fresh")}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, "pics after new writes", r.contents(ctx, t, "pics"), pics)
	applied := r.State().AppliedIndex()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	r2 := startBackupNode(t, cfg2)
	if r2.State().AppliedIndex() < applied {
		t.Fatalf("applied index after restart %d, before %d", r2.State().AppliedIndex(), applied)
	}
	sameContents(t, "pics after restart", r2.contents(ctx, t, "pics"), pics)
	sameContents(t, "far after restart", r2.contents(ctx, t, "far"), far)
	if _, err := r2.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("fresh")}); err != nil {
		t.Fatalf("bucket created after the restore is gone after a restart: %v", err)
	}

	// A node that joins the restored cluster gets the restored state (as a
	// snapshot: the new raft log alone does not hold it) and serves it.
	jcfg := testConfig(t.TempDir())
	jcfg.NodeID, jcfg.Bootstrap, jcfg.DevBackend = "n2", false, false
	jcfg.Join = []string{r2.cnet.gossip.LocalAddr()}
	jcfg.AdminAccessKey, jcfg.AdminSecretKey = backupAK, backupSK
	jcfg.FSAllowedRoots = cfg2.FSAllowedRoots
	jcfg.AutopilotInterval, jcfg.AutopilotStabilization = 200*time.Millisecond, 200*time.Millisecond
	j := startBackupNode(t, jcfg)
	deadline := time.Now().Add(30 * time.Second)
	for j.State().AppliedIndex() < r2.State().AppliedIndex() || !j.node.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("joiner did not catch up: applied %d, leader %d", j.State().AppliedIndex(), r2.State().AppliedIndex())
		}
		time.Sleep(100 * time.Millisecond)
	}
	jc, _, _ := j.State().Config()
	if jc.ClusterID != before.ClusterID {
		t.Fatalf("joiner's cluster %q, want the restored %q", jc.ClusterID, before.ClusterID)
	}
	sameContents(t, "pics on the joiner", j.contents(ctx, t, "pics"), pics)
	sameContents(t, "far on the joiner", j.contents(ctx, t, "far"), far)
}
