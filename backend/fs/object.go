package fs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/stratagw/strata/backend"
)

// PutObject streams exactly size bytes into bucket/key (temp file, fsync,
// rename, sidecar). A short or failing body leaves nothing behind.
func (b *Backend) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, meta backend.Meta) (backend.ObjectInfo, error) {
	p, err := b.objectPath(bucket, key)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs put: %w", err)
	}
	t, err := b.writeTemp(ctx, r, size)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs put %s/%s: %w", bucket, key, err)
	}
	defer t.discard()
	info, err := b.install(p, t, hex.EncodeToString(t.md5), meta)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs put: %w", err)
	}
	return info, nil
}

// openObject opens the object's file after checking it resolves inside its
// bucket; directories and special files are not objects.
func (b *Backend) openObject(ctx context.Context, bucket, key string) (objPath, *os.File, os.FileInfo, error) {
	p, err := b.objectPath(bucket, key)
	if err != nil {
		return objPath{}, nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return objPath{}, nil, nil, err
	}
	if err := checkResolved(p, p.data()); err != nil {
		return objPath{}, nil, nil, err
	}
	f, err := os.Open(p.data())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return objPath{}, nil, nil, fmt.Errorf("%s/%s: %w", bucket, key, backend.ErrNotFound)
		}
		return objPath{}, nil, nil, fmt.Errorf("open %s/%s: %w", bucket, key, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return objPath{}, nil, nil, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return objPath{}, nil, nil, fmt.Errorf("%s/%s: %w", bucket, key, backend.ErrNotFound)
	}
	return p, f, st, nil
}

// fileSection is an open object file read through a section.
type fileSection struct {
	*io.SectionReader
	f *os.File
}

func (s fileSection) Close() error { return s.f.Close() }

// WriteTo streams the rest of the section to w. It hands w the file itself
// (limited to the section), so a writer that can read from a file — an
// http.ResponseWriter over TCP — lets the kernel move the bytes (sendfile)
// instead of copying them through strata.
func (s fileSection) WriteTo(w io.Writer) (int64, error) {
	pos, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("fs read: %w", err)
	}
	_, off, n := s.Outer()
	if pos >= n {
		return 0, nil
	}
	if _, err := s.f.Seek(off+pos, io.SeekStart); err != nil {
		return 0, fmt.Errorf("fs read: %w", err)
	}
	written, err := io.Copy(w, io.LimitReader(s.f, n-pos))
	// Keep the section's position true for a caller that reads on.
	if _, sErr := s.Seek(pos+written, io.SeekStart); err == nil && sErr != nil {
		err = fmt.Errorf("fs read: %w", sErr)
	}
	return written, err
}

// GetObject opens bucket/key (optionally a range). The returned reader is
// bound to the file version whose ETag was checked against ifMatch, even
// if the object is replaced while it is being read.
func (b *Backend) GetObject(ctx context.Context, bucket, key string, rng *backend.Range, ifMatch string) (io.ReadCloser, backend.ObjectInfo, error) {
	sec, info, err := b.openSection(ctx, bucket, key, rng, ifMatch)
	if err != nil {
		return nil, backend.ObjectInfo{}, err
	}
	return sec, info, nil
}

// openSection opens the (range of the) object after the If-Match check.
func (b *Backend) openSection(ctx context.Context, bucket, key string, rng *backend.Range, ifMatch string) (fileSection, backend.ObjectInfo, error) {
	v, err := b.openVersion(ctx, bucket, key)
	if err != nil {
		return fileSection{}, backend.ObjectInfo{}, fmt.Errorf("fs get: %w", err)
	}
	f := v.f
	info, err := b.objectInfo(ctx, v)
	if err != nil {
		_ = f.Close()
		return fileSection{}, backend.ObjectInfo{}, fmt.Errorf("fs get: %w", err)
	}
	if ifMatch != "" && strings.Trim(ifMatch, `"`) != info.ETag {
		_ = f.Close()
		return fileSection{}, backend.ObjectInfo{}, fmt.Errorf("fs get %s/%s: etag %s, want %s: %w", bucket, key, info.ETag, ifMatch, backend.ErrPreconditionFailed)
	}
	off, n := int64(0), info.Size
	if rng != nil {
		if rng.Start < 0 || rng.Start > rng.End || rng.Start >= info.Size {
			_ = f.Close()
			return fileSection{}, backend.ObjectInfo{}, fmt.Errorf("fs get %s/%s: range %d-%d outside object of %d bytes", bucket, key, rng.Start, rng.End, info.Size)
		}
		off, n = rng.Start, min(rng.End, info.Size-1)-rng.Start+1
	}
	return fileSection{io.NewSectionReader(f, off, n), f}, info, nil
}

// HeadObject describes bucket/key.
func (b *Backend) HeadObject(ctx context.Context, bucket, key string) (backend.ObjectInfo, error) {
	v, err := b.openVersion(ctx, bucket, key)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs head: %w", err)
	}
	defer v.f.Close()
	info, err := b.objectInfo(ctx, v)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs head: %w", err)
	}
	return info, nil
}

// DeleteObject removes bucket/key and its sidecar, then the directories
// that became empty, up to the bucket directory. A missing key succeeds.
func (b *Backend) DeleteObject(ctx context.Context, bucket, key string) error {
	p, err := b.objectPath(bucket, key)
	if err != nil {
		return fmt.Errorf("fs delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	parent := filepath.Dir(p.data())
	if err := checkResolved(p, parent); err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("fs delete: %w", err)
	}
	st, err := os.Lstat(p.data())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("fs delete %s/%s: %w", bucket, key, err)
	}
	if st.IsDir() {
		return nil // a directory of other keys, not an object
	}
	// Sidecar first: a crash in between leaves an object without
	// metadata, never a sidecar that blocks future keys.
	sc := b.sidecar(p)
	if err := os.Remove(sc); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fs delete %s/%s: sidecar: %w", bucket, key, err)
	}
	if err := os.Remove(p.data()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fs delete %s/%s: %w", bucket, key, err)
	}
	pruneEmptyDirs(p.bucketDir, parent)
	pruneEmptyDirs(filepath.Join(b.metaRoot(), bucket), filepath.Dir(sc))
	return nil
}

// pruneEmptyDirs removes dir and its ancestors while they are empty,
// stopping below stop.
func pruneEmptyDirs(stop, dir string) {
	for dir != stop && within(stop, dir) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// CopyObject copies file to temp to rename on the same filesystem; the
// destination gets meta.
func (b *Backend) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta backend.Meta) (backend.ObjectInfo, error) {
	dst, err := b.objectPath(dstBucket, dstKey)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs copy: %w", err)
	}
	_, f, st, err := b.openObject(ctx, srcBucket, srcKey)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs copy: %w", err)
	}
	t, err := b.writeTemp(ctx, f, st.Size())
	_ = f.Close()
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs copy %s/%s: %w", srcBucket, srcKey, err)
	}
	defer t.discard()
	info, err := b.install(dst, t, hex.EncodeToString(t.md5), meta)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs copy: %w", err)
	}
	return info, nil
}

// ListObjects lists objects in S3 key order (bytewise on the full key, so
// "a-b" sorts before "a/b"). Directory order differs from key order, so it
// collects every key under the prefix's directory and sorts them on each
// call: memory grows with the number of keys under the prefix. That is
// fine for its callers (import and orphan cleanup, page by page); client
// listings are served from the FSM index, never from here. Only the
// returned page is stat'ed for ETags and metadata.
func (b *Backend) ListObjects(ctx context.Context, bucket, prefix, after string, max int) ([]backend.ObjectInfo, bool, error) {
	dir, err := b.existingBucketDir(bucket)
	if err != nil {
		return nil, false, fmt.Errorf("fs list: %w", err)
	}
	if max <= 0 {
		max = 1000
	}
	keys, err := collectKeys(ctx, dir, prefix, after)
	if err != nil {
		return nil, false, fmt.Errorf("fs list %s: %w", bucket, err)
	}
	sort.Strings(keys)
	truncated := len(keys) > max
	if truncated {
		keys = keys[:max]
	}
	out := make([]backend.ObjectInfo, 0, len(keys))
	for _, k := range keys {
		info, err := b.HeadObject(ctx, bucket, k)
		if errors.Is(err, backend.ErrNotFound) {
			continue // deleted since the walk
		}
		if err != nil {
			return nil, false, fmt.Errorf("fs list %s: %w", bucket, err)
		}
		out = append(out, info)
	}
	return out, truncated, nil
}

// collectKeys walks the deepest directory named by prefix and returns the
// keys of regular files that have prefix and sort after after. Symlinks
// are skipped: they may point anywhere.
func collectKeys(ctx context.Context, bucketDir, prefix, after string) ([]string, error) {
	start := bucketDir
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		if rel, err := keyToRel(prefix[:i+1]); err == nil {
			start = filepath.Dir(filepath.Join(bucketDir, rel))
		}
	}
	var keys []string
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // vanished during the walk (or no such prefix dir)
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(bucketDir, path)
		if err != nil {
			return err
		}
		k := relToKey(rel)
		if _, err := keyToRel(k); err != nil {
			return nil // a file no valid key maps to (e.g. placed by hand)
		}
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
		return nil
	})
	return keys, err
}
