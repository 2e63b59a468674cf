// Package backend defines how strata talks to a storage provider. The two
// implementations live in backend/fs and backend/s3; backend/pool opens them
// from cluster records and caches the open clients. A backend stores objects in its native
// format: an object written through strata is an ordinary object (or file)
// that other tools can read. Backends know nothing about virtual buckets,
// raft or the S3 API served to clients.
package backend

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors every implementation maps its failures to (wrapped with context).
var (
	// ErrNotFound: the bucket, object or upload does not exist.
	ErrNotFound = errors.New("not found")
	// ErrBucketExists: CreateBucket on a name that exists.
	ErrBucketExists = errors.New("bucket already exists")
	// ErrBucketNotEmpty: DeleteBucket on a bucket that still holds objects.
	ErrBucketNotEmpty = errors.New("bucket not empty")
	// ErrPreconditionFailed: an If-Match guard did not hold (the backing
	// object changed since the record was written).
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrInvalidKey: the key cannot be stored on this backend (fs: escapes
	// the root, contains "..", collides with a directory).
	ErrInvalidKey = errors.New("invalid key for this backend")
	// ErrInvalidPart: CompleteMultipart named a part that was not uploaded
	// (or with another ETag), or listed parts out of ascending order.
	ErrInvalidPart = errors.New("invalid part")
	// ErrUnavailable: the backend could not be reached or answered with a
	// server error; nothing can be assumed about the operation's effect
	// other than that the caller must not commit it.
	ErrUnavailable = errors.New("backend unavailable")
)

// Meta is the metadata stored natively with a backing object.
type Meta struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	// User holds x-amz-meta-* entries, keys lower-case without the prefix.
	User map[string]string
}

// ObjectInfo describes a backing object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ETag    string // unquoted
	ModTime time.Time
	Meta    Meta
}

// Range is an inclusive byte range [Start, End] already resolved against
// the object size by the caller.
type Range struct {
	Start, End int64
}

// CompletedPart names one part for CompleteMultipart.
type CompletedPart struct {
	Number int
	ETag   string // the backend's part ETag, unquoted
}

// Backend is one storage provider account. Every method is safe for
// concurrent use and honours ctx cancellation (an interrupted PutObject or
// UploadPart leaves no visible object or part behind).
type Backend interface {
	// Regions lists the backing regions this backend serves ("local" for fs).
	Regions() []string
	// Check verifies the backend is reachable and the credentials work.
	Check(ctx context.Context) error

	CreateBucket(ctx context.Context, region, bucket string) error
	DeleteBucket(ctx context.Context, bucket string) error
	// ListBuckets lists the backend's real buckets (for import).
	ListBuckets(ctx context.Context) ([]string, error)

	// PutObject streams exactly size bytes from r into bucket/key. It
	// must not buffer the whole body; it fails (leaving nothing behind) if
	// r yields fewer bytes or returns an error.
	PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, meta Meta) (ObjectInfo, error)
	// GetObject opens bucket/key, optionally a byte range. ifMatch, when
	// not empty, must equal the backing object's ETag, else
	// ErrPreconditionFailed.
	GetObject(ctx context.Context, bucket, key string, rng *Range, ifMatch string) (io.ReadCloser, ObjectInfo, error)
	HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// DeleteObject removes bucket/key; deleting a missing key succeeds.
	DeleteObject(ctx context.Context, bucket, key string) error
	// CopyObject copies within this backend, server-side, replacing the
	// destination's metadata with meta.
	CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta Meta) (ObjectInfo, error)
	// ListObjects lists backing objects (import, orphan cleanup), in key
	// order, keys > after, at most max.
	ListObjects(ctx context.Context, bucket, prefix, after string, max int) (objs []ObjectInfo, truncated bool, err error)

	// CreateMultipart starts a native multipart upload and returns the
	// backend's upload id.
	CreateMultipart(ctx context.Context, bucket, key string, meta Meta) (uploadID string, err error)
	// UploadPart streams exactly size bytes as part number n; returns the
	// backend's part ETag.
	UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64) (etag string, err error)
	// UploadPartCopy copies a range of srcBucket/srcKey (on this backend)
	// into part n, server-side.
	UploadPartCopy(ctx context.Context, bucket, key, uploadID string, n int, srcBucket, srcKey string, rng *Range) (etag string, err error)
	// CompleteMultipart assembles the parts (nothing re-streamed through
	// strata) and returns the final backing object.
	CompleteMultipart(ctx context.Context, bucket, key, uploadID string, parts []CompletedPart) (ObjectInfo, error)
	// AbortMultipart discards an upload; aborting an unknown upload
	// returns ErrNotFound.
	AbortMultipart(ctx context.Context, bucket, key, uploadID string) error

	// Close releases resources (idle connections).
	Close() error
}

// Config is everything needed to open a backend. SecretKey is in clear:
// Config values live in memory only and are never logged (String hides it).
type Config struct {
	Type string // "fs" or "s3"
	// fs
	Path string
	// s3
	Endpoint  string
	Region    string
	PathStyle bool
	AccessKey string
	SecretKey string
}

// String implements fmt.Stringer without the secret.
func (c Config) String() string {
	if c.Type == "fs" {
		return "fs:" + c.Path
	}
	return "s3:" + c.Endpoint + " region=" + c.Region + " key=" + c.AccessKey
}
