package fs

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stratagw/strata/backend"
)

// maxPartNumber is S3's part number limit.
const maxPartNumber = 10000

// uploadFile is the staging dir's record of what the upload will become.
const uploadFile = "upload.json"

type uploadData struct {
	Bucket string       `json:"bucket"`
	Key    string       `json:"key"`
	Meta   backend.Meta `json:"meta"`
}

// CreateMultipart makes a staging directory under .strata/multipart and
// returns its random id.
func (b *Backend) CreateMultipart(ctx context.Context, bucket, key string, meta backend.Meta) (string, error) {
	if _, err := b.objectPath(bucket, key); err != nil {
		return "", fmt.Errorf("fs create multipart: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("fs create multipart: upload id: %w", err)
	}
	id := hex.EncodeToString(raw)
	data, err := json.Marshal(uploadData{Bucket: bucket, Key: key, Meta: meta})
	if err != nil {
		return "", fmt.Errorf("fs create multipart: %w", err)
	}
	t, err := b.writeTemp(ctx, strings.NewReader(string(data)), int64(len(data)))
	if err != nil {
		return "", fmt.Errorf("fs create multipart: %w", err)
	}
	defer t.discard()
	dir := filepath.Join(b.multipartRoot(), id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("fs create multipart: %w", err)
	}
	if err := os.Rename(t.path, filepath.Join(dir, uploadFile)); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("fs create multipart: %w", err)
	}
	t.path = ""
	return id, nil
}

// upload returns the staging dir of uploadID after checking it belongs to
// bucket/key; anything else is ErrNotFound.
func (b *Backend) upload(bucket, key, uploadID string) (string, uploadData, error) {
	notFound := fmt.Errorf("upload %q of %s/%s: %w", uploadID, bucket, key, backend.ErrNotFound)
	if len(uploadID) != 32 || strings.Trim(uploadID, "0123456789abcdef") != "" {
		return "", uploadData{}, notFound
	}
	dir := filepath.Join(b.multipartRoot(), uploadID)
	data, err := os.ReadFile(filepath.Join(dir, uploadFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", uploadData{}, notFound
		}
		return "", uploadData{}, fmt.Errorf("upload %s: %w", uploadID, err)
	}
	var u uploadData
	if err := json.Unmarshal(data, &u); err != nil {
		return "", uploadData{}, fmt.Errorf("upload %s: corrupt %s: %w", uploadID, uploadFile, err)
	}
	if u.Bucket != bucket || u.Key != key {
		return "", uploadData{}, notFound
	}
	return dir, u, nil
}

// partName is a part's file in the staging dir. The md5 is part of the
// name so that Complete uses exactly the part version the caller names,
// even when a part number was uploaded more than once (older versions stay
// until Complete or Abort removes the staging dir).
func partName(n int, etag string) string {
	return "part." + strconv.Itoa(n) + "." + etag
}

// UploadPart stores part n atomically and returns its md5 hex ETag.
func (b *Backend) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64) (string, error) {
	if n < 1 || n > maxPartNumber {
		return "", fmt.Errorf("fs upload part: part number %d outside 1-%d", n, maxPartNumber)
	}
	dir, _, err := b.upload(bucket, key, uploadID)
	if err != nil {
		return "", fmt.Errorf("fs upload part: %w", err)
	}
	t, err := b.writeTemp(ctx, r, size)
	if err != nil {
		return "", fmt.Errorf("fs upload part %d of %s: %w", n, uploadID, err)
	}
	defer t.discard()
	return b.installPart(dir, n, t)
}

func (b *Backend) installPart(dir string, n int, t *temp) (string, error) {
	etag := hex.EncodeToString(t.md5)
	if err := os.Rename(t.path, filepath.Join(dir, partName(n, etag))); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("fs upload part %d: upload was completed or aborted: %w", n, backend.ErrNotFound)
		}
		return "", fmt.Errorf("fs upload part %d: %w", n, err)
	}
	t.path = ""
	return etag, nil
}

// UploadPartCopy copies a range of srcBucket/srcKey (the whole object when
// rng is nil) into part n.
func (b *Backend) UploadPartCopy(ctx context.Context, bucket, key, uploadID string, n int, srcBucket, srcKey string, rng *backend.Range) (string, error) {
	if n < 1 || n > maxPartNumber {
		return "", fmt.Errorf("fs upload part copy: part number %d outside 1-%d", n, maxPartNumber)
	}
	dir, _, err := b.upload(bucket, key, uploadID)
	if err != nil {
		return "", fmt.Errorf("fs upload part copy: %w", err)
	}
	sec, _, err := b.openSection(ctx, srcBucket, srcKey, rng, "")
	if err != nil {
		return "", fmt.Errorf("fs upload part copy: %w", err)
	}
	defer sec.Close()
	t, err := b.writeTemp(ctx, sec, sec.Size())
	if err != nil {
		return "", fmt.Errorf("fs upload part copy %d of %s: %w", n, uploadID, err)
	}
	defer t.discard()
	return b.installPart(dir, n, t)
}

// CompleteMultipart streams the named parts, in order, into one temp file,
// renames it into place and removes the staging dir. The ETag is S3's
// md5-of-part-md5s-N.
func (b *Backend) CompleteMultipart(ctx context.Context, bucket, key, uploadID string, parts []backend.CompletedPart) (backend.ObjectInfo, error) {
	dir, u, err := b.upload(bucket, key, uploadID)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs complete multipart: %w", err)
	}
	p, err := b.objectPath(bucket, key)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs complete multipart: %w", err)
	}
	files, total, err := partFiles(dir, parts)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs complete multipart %s: %w", uploadID, err)
	}
	t, err := b.writeTempHashed(ctx, total, md5.New(), func(w io.Writer) (int64, error) {
		return concatFiles(ctx, w, files)
	})
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs complete multipart %s: %w", uploadID, err)
	}
	defer t.discard()
	info, err := b.install(p, t, multipartETag(parts), u.Meta)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs complete multipart: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("fs complete multipart %s: remove staging dir: %w", uploadID, err)
	}
	return info, nil
}

// partFiles resolves the parts to staging files, checking ascending
// order and that each (number, ETag) was uploaded.
func partFiles(dir string, parts []backend.CompletedPart) ([]string, int64, error) {
	if len(parts) == 0 {
		return nil, 0, fmt.Errorf("no parts: %w", backend.ErrInvalidPart)
	}
	files := make([]string, 0, len(parts))
	var total int64
	for i, cp := range parts {
		if i > 0 && cp.Number <= parts[i-1].Number {
			return nil, 0, fmt.Errorf("part %d listed after part %d: %w", cp.Number, parts[i-1].Number, backend.ErrInvalidPart)
		}
		etag := strings.ToLower(strings.Trim(cp.ETag, `"`))
		if len(etag) != 32 || strings.Trim(etag, "0123456789abcdef") != "" {
			return nil, 0, fmt.Errorf("part %d: malformed etag %q: %w", cp.Number, cp.ETag, backend.ErrInvalidPart)
		}
		path := filepath.Join(dir, partName(cp.Number, etag))
		st, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, 0, fmt.Errorf("part %d with etag %s was not uploaded: %w", cp.Number, etag, backend.ErrInvalidPart)
			}
			return nil, 0, fmt.Errorf("part %d: %w", cp.Number, err)
		}
		files = append(files, path)
		total += st.Size()
	}
	return files, total, nil
}

// concatFiles copies the files into w one after another.
func concatFiles(ctx context.Context, w io.Writer, files []string) (int64, error) {
	var n int64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return n, fmt.Errorf("open part: %w", err)
		}
		c, err := io.Copy(w, ctxReader{ctx, f})
		_ = f.Close()
		n += c
		if err != nil {
			return n, fmt.Errorf("copy part %s: %w", filepath.Base(name), err)
		}
	}
	return n, nil
}

// multipartETag is S3's ETag of a multipart object: the md5 of the
// concatenated binary part md5s, "-" and the part count.
func multipartETag(parts []backend.CompletedPart) string {
	h := md5.New()
	for _, p := range parts {
		raw, _ := hex.DecodeString(strings.Trim(p.ETag, `"`)) // validated by partFiles
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// AbortMultipart removes the staging dir; unknown uploads are ErrNotFound.
func (b *Backend) AbortMultipart(ctx context.Context, bucket, key, uploadID string) error {
	dir, _, err := b.upload(bucket, key, uploadID)
	if err != nil {
		return fmt.Errorf("fs abort multipart: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("fs abort multipart %s: %w", uploadID, err)
	}
	return nil
}
