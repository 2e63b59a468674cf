package gateway

// This file and the other multipart*.go files implement the S3 multipart
// upload operations. Uploads map to native multipart uploads on the
// backend, so 5 TiB objects with 10,000 parts work and nothing is
// re-streamed through strata at Complete; their state (the upload with its
// backend upload id, and the parts with both the S3 ETag and the backend's
// part ETag) is in the FSM.

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/stratagw/strata/fsm"
)

// S3's multipart limits.
const (
	maxPartNumber = 10000
	// minPartSize applies to every part but the last one.
	minPartSize int64 = 5 << 20
	// maxPartSize is the largest single part.
	maxPartSize int64 = 5 << 30
)

// parsePartNumber reads the partNumber query argument (1..10000).
func parsePartNumber(req *request) (int, error) {
	s := req.Query.Get("partNumber")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPartNumber {
		return 0, apiErrf(ErrInvalidArgument, "Part number must be an integer between 1 and %d, inclusive.", maxPartNumber)
	}
	return n, nil
}

// uploadOf returns the upload named by the uploadId query argument after
// checking that it belongs to the request's bucket and key: an upload id
// is not a capability for another bucket, so a mismatch is NoSuchUpload
// exactly like an unknown id.
func (g *Gateway) uploadOf(ctx context.Context, req *request) (fsm.Upload, error) {
	id := req.Query.Get("uploadId")
	if id == "" {
		return fsm.Upload{}, noSuchUpload(id)
	}
	if err := g.barrier(ctx); err != nil {
		return fsm.Upload{}, err
	}
	u, ok, err := g.state.Upload(id)
	if err != nil {
		return fsm.Upload{}, fmt.Errorf("read upload %s: %w", id, err)
	}
	if !ok || u.Bucket != req.Bucket || u.Key != req.Key {
		return fsm.Upload{}, noSuchUpload(id)
	}
	return u, nil
}

// noSuchUpload is the NoSuchUpload error naming the upload id.
func noSuchUpload(id string) *APIError {
	e := apiErr(ErrNoSuchUpload)
	e.Extra = map[string]string{"UploadId": id}
	return e
}

// multipartETag is S3's ETag of a multipart object: the hex MD5 of the
// concatenated binary MD5s of the parts, a dash, and the part count.
func multipartETag(partETags []string) (string, error) {
	h := md5.New()
	for _, e := range partETags {
		b, err := hex.DecodeString(e)
		if err != nil || len(b) != md5.Size {
			return "", fmt.Errorf("part ETag %q is not a hex MD5", e)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partETags)), nil
}

// normalizeETag strips the quotes clients may or may not put around an
// ETag and lower-cases it.
func normalizeETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.ToLower(strings.Trim(s, `"`))
}

// quoteETag is how ETags travel in headers and XML.
func quoteETag(s string) string { return `"` + s + `"` }
