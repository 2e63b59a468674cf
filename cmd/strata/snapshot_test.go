package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/admin/admintest"
	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/testenv"
)

// TestSnapshotSaveAndRestore drives the operator's backup story through
// the binary: save a snapshot of a dev node, refuse bad restores, restore
// into a new data directory, and bootstrap a node on it that serves the
// old objects and takes new writes.
func TestSnapshotSaveAndRestore(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{6}, 32))
	creds := []string{"STRATA_ADMIN_ACCESS_KEY=" + admintest.AccessKey, "STRATA_ADMIN_SECRET_KEY=" + admintest.SecretKey}
	env := cleanEnv(append(creds, "STRATA_CLUSTER_KEY="+key)...)
	addrs := []string{"--s3-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	p := startServer(t, dir, env, addrs...)
	s3URL, adminURL := serverURLs(t, p)
	cli := append(append([]string(nil), env...), "STRATA_ADMIN_URL="+adminURL)
	s3c := testenv.S3Client(t, testenv.S3Server{Endpoint: s3URL, AccessKey: admintest.AccessKey, SecretKey: admintest.SecretKey, Region: "us-east-1"})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("docs")}); err != nil {
		t.Fatal(err)
	}
	putObject(ctx, t, s3c, "docs", "hello.txt", "hello from before the backup")

	r := strata(t, dir, cli, "admin", "snapshot", "save", "backups/snap.db")
	if r.code != 1 || r.stderr != "strata: cannot write backups/snap.db: no such file or directory\n" {
		t.Fatalf("save into a missing directory: %+v", r)
	}
	if err := os.Mkdir(filepath.Join(dir, "backups"), 0o700); err != nil {
		t.Fatal(err)
	}
	r = strata(t, dir, cli, "admin", "snapshot", "save", "backups/snap.db")
	m := match(t, `^snapshot of cluster ([0-9a-f]{32}) at index (\d+) saved to backups/snap\.db \((\d+\.\d KiB)\)\n$`, r.stdout)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("save: %+v", r)
	}
	clusterID := m[1]
	snap := filepath.Join(dir, "backups", "snap.db")
	st, err := os.Stat(snap)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v", st, err)
	}
	if info, err := fsm.InspectBackup(snap); err != nil || info.ClusterID != clusterID || info.Size != st.Size() {
		t.Fatalf("saved snapshot: %+v, %v", info, err)
	}
	r = strata(t, dir, cli, "admin", "snapshot", "save", "--json", "backups/snap2.db")
	var saved struct {
		api.Snapshot
		File string `json:"file"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &saved) != nil || saved.ClusterID != clusterID ||
		saved.File != "backups/snap2.db" || len(saved.SHA256) != 64 {
		t.Fatalf("save --json: %+v", r)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "backups")); len(ents) != 2 {
		t.Fatalf("backups dir holds %v, want the two snapshots only", ents)
	}
	p.stop(t)

	noKey := cleanEnv(creds...)
	withOther := cleanEnv(append(creds, "STRATA_CLUSTER_KEY="+other)...)
	if err := os.WriteFile(filepath.Join(dir, "garbage.db"), bytes.Repeat([]byte("x"), 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		stderr string
	}{
		{"existing node", env, []string{"restore", "--data-dir", "strata-data", "backups/snap.db"},
			"strata: strata-data already holds a node's state (strata-data/raft/raft.db): restore only into a new, empty data directory\n"},
		{"other key", withOther, []string{"restore", "--data-dir", "restored", "backups/snap.db"},
			"strata: the cluster key does not open this snapshot's secrets (it was taken with another key): "},
		{"no key", noKey, []string{"restore", "--data-dir", "restored", "backups/snap.db"},
			"strata: restore needs the cluster key the snapshot was taken with: set STRATA_CLUSTER_KEY or --cluster-key-file\n"},
		{"missing key file", noKey, []string{"restore", "--data-dir", "restored", "--cluster-key-file", "nope.key", "backups/snap.db"},
			"strata: cluster key file: open nope.key: no such file or directory\n"},
		{"not a snapshot", env, []string{"restore", "--data-dir", "restored", "garbage.db"},
			"strata: " + filepath.Join(dir, "garbage.db") + " is not a strata snapshot: "},
		{"no data dir", env, []string{"restore", "backups/snap.db"}, "strata: missing flags: --data-dir=STRING\n"},
	} {
		r := strata(t, dir, tc.env, tc.args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, tc.stderr) || r.stdout != "" {
			t.Errorf("%s: code %d stdout %q stderr %q, want prefix %q", tc.name, r.code, r.stdout, r.stderr, tc.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "restored")); !os.IsNotExist(err) {
			t.Fatalf("%s: a refused restore left the data directory behind: %v", tc.name, err)
		}
	}

	// The key may come from a file, as for the server.
	keyFile := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = strata(t, dir, noKey, "restore", "--data-dir", "restored", "--cluster-key-file", keyFile, "backups/snap.db")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("restore: %+v", r)
	}
	match(t, `^restored cluster `+clusterID+` \(snapshot at index \d+, \d+\.\d KiB\) into restored\n`, r.stdout)
	oldFS := filepath.Join(dir, "strata-data", "fs")
	match(t, `strata server --bootstrap --data-dir restored --cluster-key-file `+regexp.QuoteMeta(keyFile)+
		` --fs-allow `+regexp.QuoteMeta(oldFS)+` \[other flags as before\]`, r.stdout)
	match(t, `--join HOST-OF-NODE-1:9101`, r.stdout)
	r = strata(t, dir, noKey, "restore", "--data-dir", "restored", "--cluster-key-file", keyFile, "backups/snap.db")
	if r.code != 1 || !strings.Contains(r.stderr, "restored already holds a node's state") {
		t.Fatalf("second restore into the same directory: %+v", r)
	}

	// The old dev backend's files stay where they were: allow that root,
	// as the next steps say.
	p2 := startServer(t, dir, env, append(addrs, "--bootstrap", "--data-dir", "restored", "--fs-allow", oldFS)...)
	s3URL, adminURL = serverURLs(t, p2)
	cli = append(append([]string(nil), env...), "STRATA_ADMIN_URL="+adminURL)
	s3c = testenv.S3Client(t, testenv.S3Server{Endpoint: s3URL, AccessKey: admintest.AccessKey, SecretKey: admintest.SecretKey, Region: "us-east-1"})
	if got := getObject(ctx, t, s3c, "docs", "hello.txt"); got != "hello from before the backup" {
		t.Fatalf("restored object: %q", got)
	}
	putObject(ctx, t, s3c, "docs", "new.txt", "after the restore")
	if got := getObject(ctx, t, s3c, "docs", "new.txt"); got != "after the restore" {
		t.Fatalf("new object: %q", got)
	}
	r = strata(t, dir, cli, "admin", "bucket", "list")
	if r.code != 0 || !regexp.MustCompile(`(?m)^docs\s`).MatchString(r.stdout) {
		t.Fatalf("bucket list on the restored node: %+v", r)
	}
	r = strata(t, dir, cli, "admin", "snapshot", "save", "backups/after.db")
	match(t, `^snapshot of cluster `+clusterID+` at index \d+ saved to backups/after\.db`, r.stdout)
}

// serverURLs reads the S3 and admin endpoints from a server's banner.
func serverURLs(t *testing.T, p *process) (s3URL, adminURL string) {
	t.Helper()
	out := p.banner(t, regexp.MustCompile(`^\s+admin endpoint:`))
	return match(t, `S3 endpoint:\s+(http://127\.0\.0\.1:\d+)`, out)[1], match(t, `admin endpoint:\s+(http://127\.0\.0\.1:\d+)`, out)[1]
}

func putObject(ctx context.Context, t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

func getObject(ctx context.Context, t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return string(b)
}

func TestRestoreHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/strata/fs":    "/srv/strata/fs",
		"/mnt/my disk/fs":   "'/mnt/my disk/fs'",
		"/it's":             `'/it'\''s'`,
		"":                  "''",
		"C:/data,x=y@z+1:2": "C:/data,x=y@z+1:2",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 20480: "20.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %s, want %s", n, got, want)
		}
	}
}
