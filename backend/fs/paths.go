package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/stratagw/strata/backend"
)

// maxSegment is the longest file name most filesystems accept (NAME_MAX).
const maxSegment = 255

// objPath is where one object lives: its bucket directory (a real
// directory under the root) and its path relative to it, in OS form.
type objPath struct {
	bucket    string
	bucketDir string
	rel       string
}

// data is the object's file.
func (p objPath) data() string { return filepath.Join(p.bucketDir, p.rel) }

// bucketDir validates a bucket name and returns its directory (which may
// not exist yet).
func (b *Backend) bucketDir(bucket string) (string, error) {
	switch {
	case bucket == "" || len(bucket) > maxSegment:
		return "", fmt.Errorf("fs bucket name %q: must be 1-%d bytes: %w", bucket, maxSegment, backend.ErrInvalidKey)
	case strings.HasPrefix(bucket, "."):
		return "", fmt.Errorf("fs bucket name %q: must not start with '.': %w", bucket, backend.ErrInvalidKey)
	case strings.ContainsAny(bucket, "/\\\x00"):
		return "", fmt.Errorf("fs bucket name %q: must not contain '/', '\\' or NUL: %w", bucket, backend.ErrInvalidKey)
	}
	return filepath.Join(b.root, bucket), nil
}

// existingBucketDir returns the directory of a bucket that must exist. A
// bucket directory that is a symlink is refused: it would put objects
// outside the root.
func (b *Backend) existingBucketDir(bucket string) (string, error) {
	dir, err := b.bucketDir(bucket)
	if err != nil {
		return "", err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("fs bucket %s: %w", bucket, backend.ErrNotFound)
		}
		return "", fmt.Errorf("fs bucket %s: %w", bucket, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("fs bucket %s: not a directory: %w", bucket, backend.ErrNotFound)
	}
	return dir, nil
}

// objectPath validates bucket and key and maps them to a path.
func (b *Backend) objectPath(bucket, key string) (objPath, error) {
	rel, err := keyToRel(key)
	if err != nil {
		return objPath{}, err
	}
	dir, err := b.existingBucketDir(bucket)
	if err != nil {
		return objPath{}, err
	}
	return objPath{bucket: bucket, bucketDir: dir, rel: rel}, nil
}

// sidecar is the path of an object's metadata sidecar: the same relative
// path under .strata/meta/<bucket>.
func (b *Backend) sidecar(p objPath) string {
	return filepath.Join(b.metaRoot(), p.bucket, p.rel)
}

// keyToRel checks that key maps to a path strictly inside its bucket
// directory and returns that relative path. A key ending in "/" (a folder
// marker) maps to a marker file inside the directory.
func keyToRel(key string) (string, error) {
	invalid := func(why string) (string, error) {
		return "", fmt.Errorf("key %q: %s: %w", key, why, backend.ErrInvalidKey)
	}
	if key == "" {
		return invalid("empty")
	}
	if strings.ContainsRune(key, 0) {
		return invalid("contains a NUL byte")
	}
	if strings.HasPrefix(key, "/") {
		return invalid("absolute path")
	}
	trimmed, folder := strings.CutSuffix(key, "/")
	segs := strings.Split(trimmed, "/")
	for i, s := range segs {
		switch {
		case s == "":
			return invalid("empty path segment")
		case s == "." || s == "..":
			return invalid("'.' or '..' path segment")
		case s == dirObject:
			return invalid("segment " + dirObject + " is reserved")
		case i == 0 && s == stateDir:
			return invalid("first segment " + stateDir + " is reserved")
		case len(s) > maxSegment:
			return invalid(fmt.Sprintf("path segment longer than %d bytes", maxSegment))
		}
	}
	if folder {
		segs = append(segs, dirObject)
	}
	return filepath.Join(segs...), nil
}

// within reports whether target is base or inside it (both clean).
func within(base, target string) bool {
	rel, err := filepath.Rel(base, target)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

// checkResolved refuses path when, with symlinks resolved, it lies outside
// the bucket directory. Missing paths yield ErrNotFound.
func checkResolved(p objPath, path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%s/%s: %w", p.bucket, p.rel, backend.ErrNotFound)
		}
		return fmt.Errorf("%s/%s: resolve: %w", p.bucket, p.rel, err)
	}
	if !within(p.bucketDir, real) {
		return fmt.Errorf("%s/%s: resolves outside the bucket (symlink): %w", p.bucket, p.rel, backend.ErrInvalidKey)
	}
	return nil
}

// prepareParent creates the directories leading to the object's file,
// refusing when an existing ancestor resolves outside the bucket (before
// anything is created through it) or is a file (key collision).
func prepareParent(p objPath) error {
	parent := filepath.Dir(p.data())
	existing := parent
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		}
		if existing == p.bucketDir {
			break
		}
		existing = filepath.Dir(existing)
	}
	if err := checkResolved(p, existing); err != nil {
		return err
	}
	if err := mkdirAll(parent); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("key path %s/%s: a prefix of it is an existing object: %w", p.bucket, filepath.ToSlash(p.rel), backend.ErrInvalidKey)
		}
		return fmt.Errorf("create dirs for %s/%s: %w", p.bucket, p.rel, err)
	}
	return checkResolved(p, parent)
}

// relToKey turns a path relative to a bucket dir back into its key.
func relToKey(rel string) string {
	k := filepath.ToSlash(rel)
	if k == dirObject {
		return ""
	}
	if dir, ok := strings.CutSuffix(k, "/"+dirObject); ok {
		return dir + "/"
	}
	return k
}
