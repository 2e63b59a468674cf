package gateway

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// copyPartResult is the UploadPartCopy response.
type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
}

// uploadPartCopy handles UploadPart with x-amz-copy-source: the part is
// (a byte range of) an existing object. When the source lives on the
// upload's backend the copy is server-side; otherwise the bytes stream
// through this node from the source backend into the native part.
func (g *Gateway) uploadPartCopy(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:PutObject"); err != nil {
		return nil, err
	}
	n, err := parsePartNumber(req)
	if err != nil {
		return nil, err
	}
	srcBucket, srcKey, err := parseCopySource(req.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return nil, err
	}
	if err := checkKey(srcKey); err != nil {
		return nil, err
	}
	u, err := g.uploadOf(ctx, req)
	if err != nil {
		return nil, err
	}
	if _, err := g.localBucket(srcBucket); err != nil {
		return nil, err
	}
	// Hold the source key so it is not replaced between reading its
	// record and copying its bytes (a server-side copy has no If-Match).
	unlock := g.locks.lock(srcBucket, srcKey)
	defer unlock()
	src, err := g.localObject(srcBucket, srcKey)
	if err != nil {
		return nil, err
	}
	if copySourceConditions(req.Header).evaluate(src.ETag, src.ModTime) != condOK {
		return nil, apiErr(ErrPreconditionFailed)
	}
	rng, size, err := parseCopySourceRange(req.Header.Get("X-Amz-Copy-Source-Range"), src.Size)
	if err != nil {
		return nil, err
	}
	if size > maxPartSize {
		return nil, apiErrf(ErrInvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: %d", maxPartSize)
	}
	if len(src.Replicas) == 0 {
		return nil, &APIError{Code: ErrInternalError, Cause: fmt.Errorf("object %s/%s has no replica", src.Bucket, src.Key)}
	}
	be, err := g.backend(ctx, u.Backing.BackendID)
	if err != nil {
		return nil, err
	}
	part := fsm.Part{UploadID: u.ID, Number: n, Size: size}
	r := src.Replicas[0]
	if r.BackendID == u.Backing.BackendID {
		part.BackendETag, part.ETag, err = g.copyPartLocal(ctx, be, u, n, r, rng)
	} else {
		part.BackendETag, part.ETag, err = g.copyPartStream(ctx, be, u, n, r, rng, size)
	}
	if err != nil {
		return nil, g.copySourceErr(ctx, src, err)
	}
	part.ModTime = g.cfg.Now().UTC()
	if _, err := g.apply(ctx, fsm.CmdPutPart, fsm.PutPart{Part: part}); err != nil {
		return nil, uploadApplyErr(u.ID, err)
	}
	return xmlResponse(copyPartResult{LastModified: s3Time(part.ModTime), ETag: quoteETag(part.ETag)}), nil
}

// copyPartLocal copies server-side within the upload's backend. The part
// ETag S3 reports is the MD5 of the copied bytes; fs and S3 backends
// return exactly that as the part's ETag. Should a backend return
// something else, the MD5 is computed by reading the range back.
func (g *Gateway) copyPartLocal(ctx context.Context, be backend.Backend, u fsm.Upload, n int, r fsm.Replica, rng *backend.Range) (backendETag, etag string, err error) {
	backendETag, err = be.UploadPartCopy(ctx, u.Backing.Name, u.BackingKey, u.BackendUploadID, n, r.Bucket, r.Key, rng)
	if err != nil {
		return "", "", backendUploadErr(u.ID, "server-side part copy", err)
	}
	if e := normalizeETag(backendETag); isHexMD5(e) {
		return backendETag, e, nil
	}
	sum, err := g.md5OfReplica(ctx, be, r, rng)
	if err != nil {
		return "", "", err
	}
	return backendETag, sum, nil
}

// copyPartStream streams the source range from its backend into the
// upload's backend as part n and returns the backend part ETag and the
// MD5 of the bytes copied.
func (g *Gateway) copyPartStream(ctx context.Context, be backend.Backend, u fsm.Upload, n int, r fsm.Replica, rng *backend.Range, size int64) (backendETag, etag string, err error) {
	srcBE, err := g.backend(ctx, r.BackendID)
	if err != nil {
		return "", "", err
	}
	rc, _, err := srcBE.GetObject(ctx, r.Bucket, r.Key, rng, r.ETag)
	if err != nil {
		return "", "", fmt.Errorf("open copy source %s/%s: %w", r.Bucket, r.Key, err)
	}
	defer rc.Close()
	body := newVerifyingReader(rc, size, nil)
	if err := body.VerifyEmpty(); err != nil {
		return "", "", fmt.Errorf("copy part from %s/%s: %w", r.Bucket, r.Key, err)
	}
	backendETag, err = be.UploadPart(ctx, u.Backing.Name, u.BackingKey, u.BackendUploadID, n, body, size)
	if f := body.Failure(); f != nil {
		return "", "", fmt.Errorf("copy part from %s/%s: %w", r.Bucket, r.Key, f)
	}
	if err != nil {
		return "", "", backendUploadErr(u.ID, "copy part", err)
	}
	if !body.Verified() {
		return "", "", &APIError{Code: ErrInternalError, Cause: errBodyNotConsumed}
	}
	return backendETag, hex.EncodeToString(body.Sum()), nil
}

// md5OfReplica reads a range of a backing object and returns its hex MD5.
func (g *Gateway) md5OfReplica(ctx context.Context, be backend.Backend, r fsm.Replica, rng *backend.Range) (string, error) {
	rc, _, err := be.GetObject(ctx, r.Bucket, r.Key, rng, r.ETag)
	if err != nil {
		return "", fmt.Errorf("read copy source %s/%s: %w", r.Bucket, r.Key, err)
	}
	defer rc.Close()
	h := md5.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("read copy source %s/%s: %w", r.Bucket, r.Key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// parseCopySourceRange parses x-amz-copy-source-range, which unlike Range
// has exactly one form, "bytes=first-last", both offsets required. An
// empty header means the whole source. A malformed value is
// InvalidArgument; a range outside the source is InvalidRange.
func parseCopySourceRange(h string, srcSize int64) (*backend.Range, int64, error) {
	if h == "" {
		return nil, srcSize, nil
	}
	bad := apiErrf(ErrInvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return nil, 0, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return nil, 0, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first || a[0] == '+' || b[0] == '+' {
		return nil, 0, bad
	}
	if last >= srcSize {
		return nil, 0, &APIError{Code: ErrInvalidRange,
			Message: fmt.Sprintf("Range specified is not valid for source object of size: %d", srcSize),
			Extra:   map[string]string{"RangeRequested": h, "ActualObjectSize": fmt.Sprint(srcSize)}}
	}
	return &backend.Range{Start: first, End: last}, last - first + 1, nil
}

// isHexMD5 reports whether s is 32 lower-case hex digits.
func isHexMD5(s string) bool {
	if len(s) != 2*md5.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
