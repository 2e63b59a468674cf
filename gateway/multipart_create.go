package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"

	"github.com/stratagw/strata/fsm"
)

// initiateMultipartUploadResult is the CreateMultipartUpload response.
type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

// createMultipartUpload handles POST /bucket/key?uploads: it starts a
// native multipart upload on the bucket's backend and records it. The
// object's metadata is fixed here, as in S3.
func (g *Gateway) createMultipartUpload(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:PutObject"); err != nil {
		return nil, err
	}
	if err := checkKey(req.Key); err != nil {
		return nil, err
	}
	// The object is written here as much as by PutObject: refuse what
	// strata cannot honour (the aws CLI sends --sse on this request for
	// large files) rather than store it silently without it.
	if err := checkWriteHeaders(req.Header); err != nil {
		return nil, err
	}
	meta, err := metaFromHeaders(req.Header)
	if err != nil {
		return nil, err
	}
	b, err := g.bucket(ctx, req.Bucket)
	if err != nil {
		return nil, err
	}
	backing, be, err := g.writeTarget(ctx, b)
	if err != nil {
		return nil, err
	}
	id, err := newUploadID()
	if err != nil {
		return nil, err
	}
	backendID, err := be.CreateMultipart(ctx, backing.Name, req.Key, backendMeta(meta))
	if err != nil {
		return nil, fmt.Errorf("create multipart upload on backend %s: %w", backing.BackendID, err)
	}
	u := fsm.Upload{
		ID:              id,
		Bucket:          req.Bucket,
		Key:             req.Key,
		Meta:            meta,
		Owner:           req.Identity.AccessKey,
		Initiated:       g.cfg.Now().UTC(),
		Backing:         backing,
		BackingKey:      req.Key,
		BackendUploadID: backendID,
	}
	if _, err := g.apply(ctx, fsm.CmdCreateUpload, fsm.CreateUpload{Upload: u}); err != nil {
		// Nobody can name the backend upload without its record: discard
		// it. If the command's fate is unknown and it did commit, the
		// record points at an aborted backend upload, which the reaper
		// (and any client that somehow got the id) treats as gone.
		if aErr := be.AbortMultipart(context.WithoutCancel(ctx), backing.Name, req.Key, backendID); aErr != nil {
			g.log.Warn("abort backend upload after failed commit", "id", req.ID, "bucket", req.Bucket,
				"key", req.Key, "err", aErr)
		}
		return nil, err
	}
	return xmlResponse(initiateMultipartUploadResult{Bucket: req.Bucket, Key: req.Key, UploadID: id}), nil
}

// newUploadID returns a random, URL-safe client upload id (32 hex chars).
func newUploadID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate upload id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
