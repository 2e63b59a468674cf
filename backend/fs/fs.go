// Package fs is the filesystem backend: a root directory whose
// sub-directories are buckets and whose files are objects, so that anything
// written through strata is an ordinary file other tools can read.
//
// strata's own state lives under <root>/.strata/ (bucket names cannot start
// with '.', so it never clashes with a bucket):
//
//	.strata/tmp/                      in-flight writes (same filesystem, so rename is atomic)
//	.strata/meta/<bucket>/<path>      JSON sidecar per object (ETag, size, metadata)
//	.strata/multipart/<id>/           staging dir: upload.json and part files
//
// Every write streams into a temp file, is fsynced and renamed into place, so
// a reader sees either the old or the new object, never a partial one. The
// package owns key-to-path mapping and must refuse any key that could reach
// outside its bucket directory.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stratagw/strata/backend"
)

// Region is the only backing region of an fs backend.
const Region = "local"

const (
	stateDir     = ".strata"
	tmpDir       = "tmp"
	metaDir      = "meta"
	multipartDir = "multipart"
	// dirObject is the file that stores a folder-marker object ("a/b/").
	dirObject = ".strata-dirobj"
	// staleTmpAge is how long an untouched temp file must be before New
	// removes it as a crash leftover; in-flight writes touch theirs
	// constantly, and other nodes may share the directory.
	staleTmpAge = 24 * time.Hour
)

// Backend is an fs backend rooted at one directory.
type Backend struct {
	root string // absolute, symlinks resolved
	// versions pair each object's file with its sidecar for readers (see
	// versionLock).
	versions [versionStripes]sync.RWMutex
}

var _ backend.Backend = (*Backend)(nil)

// New opens the fs backend rooted at root, which must be an existing
// directory. It creates the .strata state directories and removes temp
// files left by a crash long ago.
func New(root string) (*Backend, error) {
	if root == "" {
		return nil, errors.New("fs backend: empty root path")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fs backend root %q: %w", root, err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("fs backend root %q: %w", root, err)
	}
	st, err := os.Stat(resolved)
	if err != nil {
		return nil, fmt.Errorf("fs backend root %q: %w", root, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("fs backend root %q is not a directory", root)
	}
	b := &Backend{root: resolved}
	for _, d := range []string{b.tmpPath(), b.metaRoot(), b.multipartRoot()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("fs backend: create state dir: %w", err)
		}
	}
	b.removeStaleTemps(time.Now().Add(-staleTmpAge))
	return b, nil
}

// Root returns the backend's root directory (absolute, symlinks resolved).
func (b *Backend) Root() string { return b.root }

func (b *Backend) tmpPath() string       { return filepath.Join(b.root, stateDir, tmpDir) }
func (b *Backend) metaRoot() string      { return filepath.Join(b.root, stateDir, metaDir) }
func (b *Backend) multipartRoot() string { return filepath.Join(b.root, stateDir, multipartDir) }

// removeStaleTemps deletes temp files not modified since before; errors are
// ignored because the files are invisible garbage either way.
func (b *Backend) removeStaleTemps(before time.Time) {
	entries, err := os.ReadDir(b.tmpPath())
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && info.ModTime().Before(before) {
			_ = os.RemoveAll(filepath.Join(b.tmpPath(), e.Name()))
		}
	}
}

// Regions implements backend.Backend: an fs backend has one region.
func (b *Backend) Regions() []string { return []string{Region} }

// Check verifies the root exists and is writable.
func (b *Backend) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(b.tmpPath(), "check-*")
	if err != nil {
		return fmt.Errorf("fs backend %s not writable: %w: %w", b.root, backend.ErrUnavailable, err)
	}
	name := f.Name()
	cerr := f.Close()
	rerr := os.Remove(name)
	if err := errors.Join(cerr, rerr); err != nil {
		return fmt.Errorf("fs backend %s: %w: %w", b.root, backend.ErrUnavailable, err)
	}
	return nil
}

// Close implements backend.Backend; an fs backend holds no resources.
func (b *Backend) Close() error { return nil }

// CreateBucket creates the bucket directory. region must be "" or "local".
func (b *Backend) CreateBucket(ctx context.Context, region, bucket string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if region != "" && region != Region {
		return fmt.Errorf("fs create bucket %s: region %q: fs backends only have region %q", bucket, region, Region)
	}
	dir, err := b.bucketDir(bucket)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("fs create bucket %s: %w", bucket, backend.ErrBucketExists)
		}
		return fmt.Errorf("fs create bucket %s: %w", bucket, err)
	}
	return syncDir(b.root)
}

// DeleteBucket removes an empty bucket directory and its sidecar tree. A
// bucket holding only empty directories counts as empty.
func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	dir, err := b.existingBucketDir(bucket)
	if err != nil {
		return err
	}
	empty, err := hasNoFiles(ctx, dir)
	if err != nil {
		return fmt.Errorf("fs delete bucket %s: %w", bucket, err)
	}
	if !empty {
		return fmt.Errorf("fs delete bucket %s: %w", bucket, backend.ErrBucketNotEmpty)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("fs delete bucket %s: %w", bucket, err)
	}
	if err := os.RemoveAll(filepath.Join(b.metaRoot(), bucket)); err != nil {
		return fmt.Errorf("fs delete bucket %s: remove sidecars: %w", bucket, err)
	}
	return nil
}

// hasNoFiles reports whether dir holds nothing but directories.
func hasNoFiles(ctx context.Context, dir string) (bool, error) {
	errFound := errors.New("found")
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.IsDir() {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return false, nil
	}
	return err == nil, err
}

// ListBuckets lists the bucket directories.
func (b *Backend) ListBuckets(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(b.root)
	if err != nil {
		return nil, fmt.Errorf("fs list buckets: %w: %w", backend.ErrUnavailable, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// syncDir fsyncs a directory so a rename or create in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
