package gateway

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// copyObjectResult is the CopyObject response body.
type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
}

// parseCopySource splits x-amz-copy-source ("[/]bucket/key[?versionId=v]",
// URL-encoded) into bucket and key. Only the null version exists.
func parseCopySource(v string) (bucket, key string, err error) {
	src, query, hasQuery := strings.Cut(v, "?")
	if hasQuery {
		q, qErr := url.ParseQuery(query)
		if qErr != nil {
			return "", "", apiErrf(ErrInvalidArgument, "The x-amz-copy-source query is malformed.")
		}
		if vid := q.Get("versionId"); vid != "" && vid != "null" {
			return "", "", apiErrf(ErrNotImplemented, "Copying a specific object version is not implemented.")
		}
	}
	dec, err := url.PathUnescape(src)
	if err != nil {
		return "", "", apiErrf(ErrInvalidArgument, "The x-amz-copy-source header is not correctly URL-encoded.")
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(dec, "/"), "/")
	if !ok || bucket == "" || key == "" {
		return "", "", apiErrf(ErrInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	return bucket, key, nil
}

// copyObject is PUT /bucket/key with x-amz-copy-source. Within one
// backend the copy is server-side; across backends the bytes stream
// through this node (bounded memory) with their MD5 recomputed.
func (g *Gateway) copyObject(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:PutObject"); err != nil {
		return nil, err
	}
	if err := checkKey(req.Key); err != nil {
		return nil, err
	}
	if err := checkWriteHeaders(req.Header); err != nil {
		return nil, err
	}
	srcBucket, srcKey, err := parseCopySource(req.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return nil, err
	}
	if err := checkKey(srcKey); err != nil {
		return nil, err
	}
	replace, err := metadataDirective(req)
	if err != nil {
		return nil, err
	}
	if srcBucket == req.Bucket && srcKey == req.Key && !replace {
		return nil, apiErrf(ErrInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	dst, err := g.bucket(ctx, req.Bucket)
	if err != nil {
		return nil, err
	}
	if _, err := g.localBucket(srcBucket); err != nil {
		return nil, err
	}

	unlock := g.locks.lock(srcBucket, srcKey, req.Bucket, req.Key)
	defer unlock()
	src, err := g.localObject(srcBucket, srcKey)
	if err != nil {
		return nil, err
	}
	if copySourceConditions(req.Header).evaluate(src.ETag, src.ModTime) != condOK {
		return nil, apiErr(ErrPreconditionFailed)
	}
	if src.Size > g.cfg.MaxObjectSize {
		return nil, apiErrf(ErrInvalidRequest, "The source object is larger than %d bytes: use a multipart upload with UploadPartCopy.", g.cfg.MaxObjectSize)
	}
	meta := src.Meta
	if replace {
		if meta, err = metaFromHeaders(req.Header); err != nil {
			return nil, err
		}
	}
	obj, be, err := g.copyBytes(ctx, src, dst, req.Key, meta)
	if err != nil {
		return nil, g.copySourceErr(ctx, src, err)
	}
	obj.Owner = req.Identity.AccessKey
	obj.ModTime = g.cfg.Now().UTC()
	if err := g.commitObject(ctx, be, obj); err != nil {
		return nil, err
	}
	return xmlResponse(copyObjectResult{Xmlns: s3Namespace, LastModified: s3Time(obj.ModTime), ETag: quoteETag(obj.ETag)}), nil
}

// copySourceErr maps a failed copy from src: when the source's bytes are
// gone (a delete removes them before the record), the source reads as
// deleted, NoSuchKey, as it does for GET.
func (g *Gateway) copySourceErr(ctx context.Context, src fsm.Object, err error) error {
	if !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	serr := g.statReplica(ctx, src)
	if errors.Is(serr, errReplicaChanged) && errors.Is(serr, backend.ErrNotFound) {
		g.log.Warn("copy source without backing object read as deleted", "bucket", src.Bucket, "key", src.Key, "err", err)
		return noSuchKey(src.Key)
	}
	return err
}

// metadataDirective reads x-amz-metadata-directive: COPY (default) or
// REPLACE.
func metadataDirective(req *request) (replace bool, err error) {
	switch d := req.Header.Get("X-Amz-Metadata-Directive"); strings.ToUpper(d) {
	case "", "COPY":
		return false, nil
	case "REPLACE":
		return true, nil
	default:
		return false, apiErrf(ErrInvalidArgument, "Unknown metadata directive %q.", d)
	}
}

// copyBytes writes the bytes of src as dstKey in the primary backing
// bucket of dst and returns the (uncommitted) record and the destination
// backend.
func (g *Gateway) copyBytes(ctx context.Context, src fsm.Object, dst fsm.Bucket, dstKey string, meta fsm.ObjectMeta) (fsm.Object, backend.Backend, error) {
	bb, be, err := g.writeTarget(ctx, dst)
	if err != nil {
		return fsm.Object{}, nil, err
	}
	if len(src.Replicas) == 0 {
		return fsm.Object{}, nil, &APIError{Code: ErrInternalError, Cause: fmt.Errorf("object %s/%s has no replica", src.Bucket, src.Key)}
	}
	obj := fsm.Object{Bucket: dst.Name, Key: dstKey, Size: src.Size, ETag: src.ETag, Meta: meta}
	r := src.Replicas[0]
	var info backend.ObjectInfo
	if r.BackendID == bb.BackendID {
		info, err = be.CopyObject(ctx, r.Bucket, r.Key, bb.Name, dstKey, backendMeta(meta))
		if err != nil {
			return fsm.Object{}, nil, fmt.Errorf("server-side copy %s/%s: %w", r.Bucket, r.Key, err)
		}
	} else {
		info, obj.ETag, err = g.streamCopy(ctx, r, src.Size, be, dst.Name, bb.Name, dstKey, meta)
		if err != nil {
			return fsm.Object{}, nil, err
		}
	}
	obj.Replicas = []fsm.Replica{{BackendID: bb.BackendID, Bucket: bb.Name, Key: dstKey, ETag: info.ETag}}
	return obj, be, nil
}

// streamCopy copies a replica to another backend through this node and
// returns the new backing object and the MD5 of the bytes copied.
func (g *Gateway) streamCopy(ctx context.Context, r fsm.Replica, size int64, dstBE backend.Backend, virtualBucket, dstBucket, dstKey string, meta fsm.ObjectMeta) (backend.ObjectInfo, string, error) {
	srcBE, err := g.backend(ctx, r.BackendID)
	if err != nil {
		return backend.ObjectInfo{}, "", err
	}
	rc, _, err := srcBE.GetObject(ctx, r.Bucket, r.Key, nil, r.ETag)
	if err != nil {
		return backend.ObjectInfo{}, "", fmt.Errorf("open copy source %s/%s: %w", r.Bucket, r.Key, err)
	}
	defer rc.Close()
	body := newVerifyingReader(rc, size, nil)
	if err := body.VerifyEmpty(); err != nil {
		return backend.ObjectInfo{}, "", err
	}
	info, err := dstBE.PutObject(ctx, dstBucket, dstKey, body, size, backendMeta(meta))
	if err != nil {
		if f := body.Failure(); f != nil {
			err = f
		}
		return backend.ObjectInfo{}, "", fmt.Errorf("copy to %s/%s: %w", dstBucket, dstKey, err)
	}
	if !body.Verified() {
		g.discardUnreferenced(ctx, dstBE, virtualBucket, dstKey, dstBucket)
		return backend.ObjectInfo{}, "", &APIError{Code: ErrInternalError, Cause: errBodyNotConsumed}
	}
	return info, hex.EncodeToString(body.Sum()), nil
}
