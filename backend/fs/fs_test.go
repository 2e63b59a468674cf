package fs_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/fs"
)

// newFS returns a backend on a fresh root and a bucket "bkt" in it.
func newFS(t *testing.T) (*fs.Backend, string) {
	t.Helper()
	root := t.TempDir()
	b, err := fs.New(root)
	if err != nil {
		t.Fatalf("fs.New: %v", err)
	}
	if err := b.CreateBucket(context.Background(), "local", "bkt"); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return b, b.Root()
}

func putString(t *testing.T, b *fs.Backend, key, data string) error {
	t.Helper()
	_, err := b.PutObject(context.Background(), "bkt", key, strings.NewReader(data), int64(len(data)), backend.Meta{})
	return err
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// listKeys returns every listed key of bkt.
func listKeys(t *testing.T, b *fs.Backend) []string {
	t.Helper()
	objs, _, err := b.ListObjects(context.Background(), "bkt", "", "", 1000)
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

func TestUnsafeKeysRefused(t *testing.T) {
	b, root := newFS(t)
	ctx := context.Background()
	if err := putString(t, b, "ok", "x"); err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"", "/abs", "/etc/passwd", "..", "../x", "a/../../x", "a/..", "./x", "a/./b", ".",
		"a//b", "a/b//", "//", "nul\x00byte", ".strata", ".strata/tmp/x", ".strata/",
		"a/.strata-dirobj", ".strata-dirobj", strings.Repeat("n", 256),
	}
	for _, key := range keys {
		t.Run(strings.ReplaceAll(key, "/", "|"), func(t *testing.T) {
			ops := map[string]error{
				"put":    putString(t, b, key, "data"),
				"get":    func() error { _, _, err := b.GetObject(ctx, "bkt", key, nil, ""); return err }(),
				"head":   func() error { _, err := b.HeadObject(ctx, "bkt", key); return err }(),
				"delete": b.DeleteObject(ctx, "bkt", key),
				"copy-to": func() error {
					_, err := b.CopyObject(ctx, "bkt", "ok", "bkt", key, backend.Meta{})
					return err
				}(),
				"copy-from": func() error {
					_, err := b.CopyObject(ctx, "bkt", key, "bkt", "dst", backend.Meta{})
					return err
				}(),
				"multipart": func() error { _, err := b.CreateMultipart(ctx, "bkt", key, backend.Meta{}); return err }(),
			}
			for op, err := range ops {
				if !errors.Is(err, backend.ErrInvalidKey) {
					t.Errorf("%s %q: err = %v, want ErrInvalidKey", op, key, err)
				}
			}
		})
	}
	// Nothing was written anywhere but the one good object.
	if got := listKeys(t, b); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("objects after refused keys: %q", got)
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.Name() != "bkt" && e.Name() != ".strata" {
			t.Fatalf("unexpected entry in root: %s", e.Name())
		}
	}
}

func TestBucketNamesRefused(t *testing.T) {
	b, _ := newFS(t)
	ctx := context.Background()
	for _, name := range []string{"", ".strata", ".hidden", "..", "a/b", "a\\b", "nul\x00", strings.Repeat("b", 256)} {
		if err := b.CreateBucket(ctx, "local", name); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("CreateBucket(%q) = %v, want ErrInvalidKey", name, err)
		}
	}
	if err := b.CreateBucket(ctx, "us-east-1", "other"); err == nil {
		t.Error("CreateBucket in a region other than local succeeded")
	}
	if names, _ := b.ListBuckets(ctx); len(names) != 1 || names[0] != "bkt" {
		t.Fatalf("ListBuckets = %q", names)
	}
}

func TestSymlinkEscapeRefused(t *testing.T) {
	b, root := newFS(t)
	ctx := context.Background()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("top secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	bucket := filepath.Join(root, "bkt")
	if err := os.Symlink(outside, filepath.Join(bucket, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(bucket, "filelink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(bucket, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(bucket, "real"), filepath.Join(bucket, "innerlink")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		op  string
		err error
	}{
		{"put through dir link", putString(t, b, "dirlink/new", "x")},
		{"put deep through dir link", putString(t, b, "dirlink/a/b/c", "x")},
		{"get through dir link", func() error { _, _, err := b.GetObject(ctx, "bkt", "dirlink/secret", nil, ""); return err }()},
		{"get file link", func() error { _, _, err := b.GetObject(ctx, "bkt", "filelink", nil, ""); return err }()},
		{"head file link", func() error { _, err := b.HeadObject(ctx, "bkt", "filelink"); return err }()},
		{"delete through dir link", b.DeleteObject(ctx, "bkt", "dirlink/secret")},
		{"copy from file link", func() error {
			_, err := b.CopyObject(ctx, "bkt", "filelink", "bkt", "stolen", backend.Meta{})
			return err
		}()},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, backend.ErrInvalidKey) {
			t.Errorf("%s: err = %v, want ErrInvalidKey", tc.op, tc.err)
		}
	}
	if data, err := os.ReadFile(secret); err != nil || string(data) != "top secret" {
		t.Fatalf("file outside the root changed: %q %v", data, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Fatalf("something was created outside the root: %d entries", len(entries))
	}
	// A symlink that stays inside the bucket is fine.
	if err := putString(t, b, "innerlink/x", "inside"); err != nil {
		t.Fatalf("put through an in-bucket symlink: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(bucket, "real", "x")); err != nil || string(data) != "inside" {
		t.Fatalf("in-bucket symlink target: %q %v", data, err)
	}
	// Symlinks are never listed (they may point anywhere).
	for _, k := range listKeys(t, b) {
		if strings.HasPrefix(k, "filelink") || strings.HasPrefix(k, "dirlink") {
			t.Fatalf("symlink listed: %s", k)
		}
	}
}

func TestFolderMarkers(t *testing.T) {
	b, root := newFS(t)
	ctx := context.Background()
	for _, k := range []string{"photos/", "photos/2024/", "photos/2024/a.jpg"} {
		if err := putString(t, b, k, ""); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "bkt", "photos", "2024", ".strata-dirobj")); err != nil {
		t.Fatalf("marker file: %v", err)
	}
	info, err := b.HeadObject(ctx, "bkt", "photos/")
	if err != nil || info.Key != "photos/" || info.Size != 0 {
		t.Fatalf("HeadObject(photos/) = %+v, %v", info, err)
	}
	want := "photos/ photos/2024/ photos/2024/a.jpg"
	if got := strings.Join(listKeys(t, b), " "); got != want {
		t.Fatalf("listing = %q, want %q", got, want)
	}
	if err := b.DeleteObject(ctx, "bkt", "photos/"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listKeys(t, b), " "); got != "photos/2024/ photos/2024/a.jpg" {
		t.Fatalf("after deleting the marker: %q", got)
	}
	for _, k := range []string{"photos/2024/a.jpg", "photos/2024/"} {
		if err := b.DeleteObject(ctx, "bkt", k); err != nil {
			t.Fatal(err)
		}
	}
	// Everything is gone, directories included.
	if entries, _ := os.ReadDir(filepath.Join(root, "bkt")); len(entries) != 0 {
		t.Fatalf("bucket dir not empty after deleting everything: %v", entries)
	}
}

func TestKeyCollisions(t *testing.T) {
	b, _ := newFS(t)
	for _, k := range []string{"file", "dir/child"} {
		if err := putString(t, b, k, "x"); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"file/child", "file/", "dir", "file/a/b"} {
		err := putString(t, b, k, "y")
		if !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("put %q: err = %v, want ErrInvalidKey", k, err)
		}
	}
	if got := strings.Join(listKeys(t, b), " "); got != "dir/child file" {
		t.Fatalf("listing after collisions = %q", got)
	}
	// An empty directory left behind is not a collision.
	ctx := context.Background()
	if err := b.DeleteObject(ctx, "bkt", "dir/child"); err != nil {
		t.Fatal(err)
	}
	if err := putString(t, b, "dir", "now a file"); err != nil {
		t.Fatalf("put over a pruned directory: %v", err)
	}
}

func TestNativeFilesAndSidecars(t *testing.T) {
	b, root := newFS(t)
	ctx := context.Background()
	meta := backend.Meta{ContentType: "text/plain", User: map[string]string{"a": "1"}}
	if _, err := b.PutObject(ctx, "bkt", "docs/readme.txt", strings.NewReader("hello"), 5, meta); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "bkt", "docs", "readme.txt")
	if data, err := os.ReadFile(path); err != nil || string(data) != "hello" {
		t.Fatalf("object file: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(root, ".strata", "meta", "bkt", "docs", "readme.txt")); err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	// Changed behind strata's back: the ETag follows the bytes, the
	// stale metadata is dropped.
	if err := os.WriteFile(path, []byte("changed!"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := b.HeadObject(ctx, "bkt", "docs/readme.txt")
	if err != nil || info.ETag != md5hex("changed!") || info.Size != 8 || info.Meta.ContentType != "" {
		t.Fatalf("after external change: %+v %v", info, err)
	}
	// A file placed by another tool is an object too.
	if err := os.WriteFile(filepath.Join(root, "bkt", "foreign"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, info, err := b.GetObject(ctx, "bkt", "foreign", nil, md5hex("abc"))
	if err != nil || info.ETag != md5hex("abc") {
		t.Fatalf("foreign file: %+v %v", info, err)
	}
	rc.Close()
	// Delete removes the sidecar and prunes empty directories in both trees.
	if err := b.DeleteObject(ctx, "bkt", "docs/readme.txt"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(root, "bkt", "docs"), filepath.Join(root, ".strata", "meta", "bkt", "docs")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after delete (%v)", p, err)
		}
	}
}

func TestCrashLeftoversInvisible(t *testing.T) {
	root := t.TempDir()
	b, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.CreateBucket(ctx, "local", "bkt"); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, ".strata", "tmp")
	old, fresh := filepath.Join(tmp, "put-old"), filepath.Join(tmp, "put-fresh")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("half-written"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	longAgo := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(old, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, b); len(got) != 0 {
		t.Fatalf("leftovers listed as objects: %q", got)
	}
	if names, _ := b.ListBuckets(ctx); len(names) != 1 {
		t.Fatalf("ListBuckets = %q", names)
	}
	if err := b.DeleteBucket(ctx, "bkt"); err != nil {
		t.Fatalf("DeleteBucket with leftovers in tmp: %v", err)
	}
	// Reopening removes old leftovers but not a write that may be in
	// flight on another node.
	if _, err := fs.New(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old leftover survived reopen: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("recent temp file removed: %v", err)
	}
}

func TestMultipartStaging(t *testing.T) {
	b, root := newFS(t)
	ctx := context.Background()
	id, err := b.CreateMultipart(ctx, "bkt", "mp", backend.Meta{ContentType: "x/y"})
	if err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(root, ".strata", "multipart", id)
	if _, err := os.Stat(filepath.Join(staging, "upload.json")); err != nil {
		t.Fatalf("staging dir: %v", err)
	}
	// The same part number uploaded twice: Complete uses the version named.
	e1, err := b.UploadPart(ctx, "bkt", "mp", id, 1, strings.NewReader("first"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.UploadPart(ctx, "bkt", "mp", id, 1, strings.NewReader("second"), 6); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		bucket, key, id string
	}{{"bkt", "other", id}, {"other", "mp", id}, {"bkt", "mp", "../../../etc"}, {"bkt", "mp", strings.Repeat("0", 32)}} {
		_, err := b.UploadPart(ctx, bad.bucket, bad.key, bad.id, 2, strings.NewReader("x"), 1)
		if !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("UploadPart(%s/%s, %q) = %v, want ErrNotFound", bad.bucket, bad.key, bad.id, err)
		}
	}
	for _, n := range []int{0, 10001} {
		if _, err := b.UploadPart(ctx, "bkt", "mp", id, n, strings.NewReader("x"), 1); err == nil {
			t.Errorf("UploadPart number %d accepted", n)
		}
	}
	info, err := b.CompleteMultipart(ctx, "bkt", "mp", id, []backend.CompletedPart{{Number: 1, ETag: `"` + e1 + `"`}})
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := b.GetObject(ctx, "bkt", "mp", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "first" || info.Meta.ContentType != "x/y" || !strings.HasSuffix(info.ETag, "-1") {
		t.Fatalf("completed object %q, info %+v", data, info)
	}
	if _, err := os.Stat(staging); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("staging dir left after complete: %v", err)
	}
}

func TestRootMustExist(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"", filepath.Join(dir, "missing"), file} {
		if _, err := fs.New(root); err == nil {
			t.Errorf("fs.New(%q) succeeded", root)
		}
	}
	b, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, ".strata", "tmp"), 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, ".strata", "tmp"), 0o755) })
	if os.Geteuid() != 0 { // root writes anywhere
		if err := b.Check(context.Background()); !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("Check on a read-only root = %v, want ErrUnavailable", err)
		}
	}
}

func TestGetRangeBeyondObject(t *testing.T) {
	b, _ := newFS(t)
	if err := putString(t, b, "k", "0123456789"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := b.GetObject(ctx, "bkt", "k", &backend.Range{Start: 10, End: 12}, ""); err == nil {
		t.Fatal("range starting past the end succeeded")
	}
	rc, _, err := b.GetObject(ctx, "bkt", "k", &backend.Range{Start: 8, End: 100}, "")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(data, []byte("89")) {
		t.Fatalf("clamped range = %q", data)
	}
}

// Concurrent writers and deleters in the same directories: a delete that
// prunes a directory must not make a concurrent put fail or misplace data.
func TestConcurrentPutDeleteSameDirs(t *testing.T) {
	b, _ := newFS(t)
	ctx := context.Background()
	const workers, rounds = 8, 40
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range rounds {
				key := "shared/dir/k" + strings.Repeat("x", w)
				data := strings.Repeat("d", i+1)
				if _, err := b.PutObject(ctx, "bkt", key, strings.NewReader(data), int64(len(data)), backend.Meta{}); err != nil {
					errs <- err
					return
				}
				info, err := b.HeadObject(ctx, "bkt", key)
				if err != nil || info.Size != int64(len(data)) || info.ETag != md5hex(data) {
					errs <- errors.Join(errors.New("head after put: wrong object"), err)
					return
				}
				if err := b.DeleteObject(ctx, "bkt", key); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers { // wait for all before failing: they write into t.TempDir
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	if got := listKeys(t, b); len(got) != 0 {
		t.Fatalf("left behind: %q", got)
	}
}
