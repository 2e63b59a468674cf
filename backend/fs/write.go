package fs

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/stratagw/strata/backend"
)

// temp is a fully written, fsynced temp file waiting to be renamed into
// place. discard removes it unless it was installed.
type temp struct {
	path string
	md5  []byte
	size int64
}

func (t *temp) discard() {
	if t != nil && t.path != "" {
		_ = os.Remove(t.path)
	}
}

// ctxReader stops a long copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeTemp streams exactly size bytes of r into a new temp file, hashing
// them. A short or failing reader removes the file and returns an error.
func (b *Backend) writeTemp(ctx context.Context, r io.Reader, size int64) (*temp, error) {
	if size < 0 {
		return nil, fmt.Errorf("fs write: negative size %d", size)
	}
	h := md5.New()
	return b.writeTempHashed(ctx, size, h, func(w io.Writer) (int64, error) {
		return io.CopyN(w, ctxReader{ctx, r}, size)
	})
}

// writeTempHashed creates a temp file and lets fill write into it (and
// into h); the file is kept only if fill wrote exactly size bytes.
func (b *Backend) writeTempHashed(ctx context.Context, size int64, h hash.Hash, fill func(io.Writer) (int64, error)) (_ *temp, err error) {
	f, err := os.CreateTemp(b.tmpPath(), "put-*")
	if err != nil {
		return nil, fmt.Errorf("fs write: create temp: %w", err)
	}
	t := &temp{path: f.Name()}
	defer func() {
		if err != nil {
			_ = f.Close()
			t.discard()
		}
	}()
	n, err := fill(io.MultiWriter(f, h))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("fs write: body after %d of %d bytes: %w", n, size, err)
	}
	if n != size {
		return nil, fmt.Errorf("fs write: body has %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil {
		return nil, fmt.Errorf("fs write: chmod temp: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fs write: fsync temp: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("fs write: close temp: %w", err)
	}
	t.md5 = h.Sum(nil)
	t.size = size
	return t, nil
}

// maxRenameAttempts bounds the retries of a rename whose target directory
// was pruned by a concurrent delete between creating it and renaming.
const maxRenameAttempts = 10

// mkdirAll is os.MkdirAll that tolerates a concurrent delete pruning the
// directories it is creating (MkdirAll then fails with ENOENT or EEXIST;
// a file in the way gives ENOTDIR and is returned at once).
func mkdirAll(path string) error {
	var err error
	for attempt := 0; attempt < maxRenameAttempts; attempt++ {
		err = os.MkdirAll(path, 0o755)
		if err == nil || !(errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist)) {
			return err
		}
	}
	return err
}

// versionStripes is the number of locks that pair objects' files with
// their sidecars (see versionLock).
const versionStripes = 256

// versionLock is the lock that keeps a reader from pairing an object's
// file with a sidecar of another version: install holds it exclusively
// from the rename of a new version until its sidecar is written; readers
// share it while they open the file and read the sidecar. Without it, a
// reader in that window saw the new file with the old sidecar, which
// still matched when both versions had the same size and an mtime in the
// same timestamp tick, and served the new bytes under the old ETag. Keys
// are spread over a fixed set of stripes. (Nodes sharing the directory
// over NFS are not covered; nor is a crash inside the window.)
func (b *Backend) versionLock(p objPath) *sync.RWMutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(p.bucket))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(p.rel))
	return &b.versions[h.Sum32()%versionStripes]
}

// install renames a temp file into place as p's object and writes its
// sidecar. etag is the object's ETag (hex md5, or md5-of-md5s-N).
func (b *Backend) install(p objPath, t *temp, etag string, meta backend.Meta) (backend.ObjectInfo, error) {
	mu := b.versionLock(p)
	mu.Lock()
	defer mu.Unlock()
	dst := p.data()
	// A concurrent delete may prune a directory between prepareParent
	// and the rename; retry a few times before giving up.
	var err error
	for attempt := 0; attempt < maxRenameAttempts; attempt++ {
		if err = prepareParent(p); errors.Is(err, backend.ErrNotFound) {
			continue // pruned right after it was created
		}
		if err != nil {
			return backend.ObjectInfo{}, err
		}
		if err = clearEmptyDir(dst); err != nil {
			return backend.ObjectInfo{}, fmt.Errorf("key %s/%s: %w", p.bucket, filepath.ToSlash(p.rel), err)
		}
		if err = os.Rename(t.path, dst); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, backend.ErrNotFound) {
		return backend.ObjectInfo{}, err
	}
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs install %s/%s: %w", p.bucket, p.rel, err)
	}
	t.path = ""
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return backend.ObjectInfo{}, err
	}
	st, err := os.Stat(dst)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs install %s/%s: %w", p.bucket, p.rel, err)
	}
	sc := newSidecar(etag, st, meta)
	if err := b.writeSidecar(p, sc); err != nil {
		return backend.ObjectInfo{}, err
	}
	return sc.info(relToKey(p.rel), st), nil
}

// clearEmptyDir makes room for a file at path: an empty directory left
// there is removed; a non-empty one means the key collides with other
// keys under it.
func clearEmptyDir(path string) error {
	st, err := os.Lstat(path)
	if err != nil || !st.IsDir() {
		return nil
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("collides with existing keys under %q: %w", filepath.Base(path)+"/", backend.ErrInvalidKey)
		}
		return err
	}
	return nil
}

// sidecarData is the JSON kept beside each object. Size and ModTimeNS pin
// it to one version of the file: a file changed behind strata's back (or
// a crash between rename and sidecar write) makes it stale, and the ETag
// is then recomputed from the bytes.
type sidecarData struct {
	ETag               string            `json:"etag"`
	Size               int64             `json:"size"`
	ModTimeNS          int64             `json:"mtime_ns"`
	ContentType        string            `json:"content_type,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
	ContentLanguage    string            `json:"content_language,omitempty"`
	CacheControl       string            `json:"cache_control,omitempty"`
	Expires            string            `json:"expires,omitempty"`
	User               map[string]string `json:"user,omitempty"`
}

func newSidecar(etag string, st os.FileInfo, m backend.Meta) sidecarData {
	return sidecarData{
		ETag: etag, Size: st.Size(), ModTimeNS: st.ModTime().UnixNano(),
		ContentType: m.ContentType, ContentEncoding: m.ContentEncoding,
		ContentDisposition: m.ContentDisposition, ContentLanguage: m.ContentLanguage,
		CacheControl: m.CacheControl, Expires: m.Expires, User: m.User,
	}
}

// matches reports whether the sidecar describes this version of the file.
func (s sidecarData) matches(st os.FileInfo) bool {
	return s.ETag != "" && s.Size == st.Size() && s.ModTimeNS == st.ModTime().UnixNano()
}

func (s sidecarData) meta() backend.Meta {
	return backend.Meta{
		ContentType: s.ContentType, ContentEncoding: s.ContentEncoding,
		ContentDisposition: s.ContentDisposition, ContentLanguage: s.ContentLanguage,
		CacheControl: s.CacheControl, Expires: s.Expires, User: s.User,
	}
}

func (s sidecarData) info(key string, st os.FileInfo) backend.ObjectInfo {
	return backend.ObjectInfo{Key: key, Size: st.Size(), ETag: s.ETag, ModTime: st.ModTime(), Meta: s.meta()}
}

// writeSidecar stores the sidecar atomically (temp + rename).
func (b *Backend) writeSidecar(p objPath, sc sidecarData) error {
	data, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("fs sidecar %s/%s: %w", p.bucket, p.rel, err)
	}
	t, err := b.writeTemp(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("fs sidecar %s/%s: %w", p.bucket, p.rel, err)
	}
	defer t.discard()
	dst := b.sidecar(p)
	for attempt := 0; ; attempt++ {
		if err := mkdirAll(filepath.Dir(dst)); err != nil {
			return fmt.Errorf("fs sidecar %s/%s: %w", p.bucket, p.rel, err)
		}
		if err := clearEmptyDir(dst); err != nil {
			return fmt.Errorf("fs sidecar %s/%s: %w", p.bucket, p.rel, err)
		}
		err := os.Rename(t.path, dst)
		if err == nil {
			t.path = ""
			return nil
		}
		// A concurrent delete may have pruned the directory.
		if !errors.Is(err, fs.ErrNotExist) || attempt == maxRenameAttempts-1 {
			return fmt.Errorf("fs sidecar %s/%s: %w", p.bucket, p.rel, err)
		}
	}
}

// readSidecar loads the sidecar; ok is false when it is missing or
// unreadable (the object then has no stored metadata).
func (b *Backend) readSidecar(p objPath) (sidecarData, bool) {
	data, err := os.ReadFile(b.sidecar(p))
	if err != nil {
		return sidecarData{}, false
	}
	var sc sidecarData
	if err := json.Unmarshal(data, &sc); err != nil {
		return sidecarData{}, false
	}
	return sc, true
}

// version is an open object file with the sidecar read together with it
// (under the version lock).
type version struct {
	p       objPath
	f       *os.File
	st      os.FileInfo
	sc      sidecarData
	hasMeta bool
}

// openVersion opens bucket/key and reads its sidecar as one consistent
// pair (see versionLock).
func (b *Backend) openVersion(ctx context.Context, bucket, key string) (version, error) {
	p, err := b.objectPath(bucket, key)
	if err != nil {
		return version{}, err
	}
	mu := b.versionLock(p)
	mu.RLock()
	defer mu.RUnlock()
	p, f, st, err := b.openObject(ctx, bucket, key)
	if err != nil {
		return version{}, err
	}
	sc, ok := b.readSidecar(p)
	return version{p: p, f: f, st: st, sc: sc, hasMeta: ok}, nil
}

// objectInfo describes the open file of v. When the sidecar is missing or
// stale, the ETag is the md5 of the bytes (read from the file) and the
// metadata is empty.
func (b *Backend) objectInfo(ctx context.Context, v version) (backend.ObjectInfo, error) {
	p, f, st := v.p, v.f, v.st
	if v.hasMeta && v.sc.matches(st) {
		return v.sc.info(relToKey(p.rel), st), nil
	}
	h := md5.New()
	if _, err := io.Copy(h, ctxReader{ctx, io.NewSectionReader(f, 0, st.Size())}); err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs %s/%s: hash: %w", p.bucket, p.rel, err)
	}
	sc := sidecarData{ETag: hex.EncodeToString(h.Sum(nil))}
	return sc.info(relToKey(p.rel), st), nil
}
