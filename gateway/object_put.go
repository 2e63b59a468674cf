package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// object reads an object record after a read barrier: NoSuchBucket when
// the bucket is missing, NoSuchKey when the key is.
func (g *Gateway) object(ctx context.Context, bucket, key string) (fsm.Object, error) {
	if _, err := g.bucket(ctx, bucket); err != nil {
		return fsm.Object{}, err
	}
	return g.localObject(bucket, key)
}

// localObject reads an object record from the local state (no barrier).
func (g *Gateway) localObject(bucket, key string) (fsm.Object, error) {
	o, ok, err := g.state.Object(bucket, key)
	if err != nil {
		return fsm.Object{}, fmt.Errorf("read object %s/%s: %w", bucket, key, err)
	}
	if !ok {
		return fsm.Object{}, noSuchKey(key)
	}
	return o, nil
}

// putObject is PUT /bucket/key. The body streams client → SigV4 check →
// MD5 (+ Content-MD5 check) → backend; only when the backend holds the
// verified bytes is the record committed, and only then does the client
// get its 200.
func (g *Gateway) putObject(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:PutObject"); err != nil {
		return nil, err
	}
	if err := checkKey(req.Key); err != nil {
		return nil, err
	}
	if err := checkWriteHeaders(req.Header); err != nil {
		return nil, err
	}
	size := req.ContentLength
	if size < 0 {
		return nil, apiErr(ErrMissingContentLength)
	}
	if size > g.cfg.MaxObjectSize {
		return nil, &APIError{Code: ErrEntityTooLarge, Extra: map[string]string{
			"ProposedSize": fmt.Sprint(size), "MaxSizeAllowed": fmt.Sprint(g.cfg.MaxObjectSize)}}
	}
	wantMD5, err := parseContentMD5(req.Header)
	if err != nil {
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
	bb, be, err := g.writeTarget(ctx, b)
	if err != nil {
		return nil, err
	}

	unlock := g.locks.lock(req.Bucket, req.Key)
	defer unlock()
	body := newVerifyingReader(req.Body, size, wantMD5)
	if err := body.VerifyEmpty(); err != nil {
		return nil, err
	}
	info, err := be.PutObject(ctx, bb.Name, req.Key, body, size, backendMeta(meta))
	if err != nil {
		if f := body.Failure(); f != nil {
			return nil, fmt.Errorf("put %s/%s: %w", req.Bucket, req.Key, f)
		}
		return nil, fmt.Errorf("put %s/%s on backend: %w", req.Bucket, req.Key, err)
	}
	if !body.Verified() {
		// The backend stopped reading early; the checks at the end of the
		// body never ran, so the bytes it stored cannot be trusted.
		g.discardUnreferenced(ctx, be, req.Bucket, req.Key, bb.Name)
		return nil, &APIError{Code: ErrInternalError, Cause: errBodyNotConsumed}
	}
	obj := fsm.Object{
		Bucket:   req.Bucket,
		Key:      req.Key,
		Size:     size,
		ETag:     hex.EncodeToString(body.Sum()),
		Meta:     meta,
		Owner:    req.Identity.AccessKey,
		ModTime:  g.cfg.Now().UTC(),
		Replicas: []fsm.Replica{{BackendID: bb.BackendID, Bucket: bb.Name, Key: req.Key, ETag: info.ETag}},
	}
	if err := g.commitObject(ctx, be, obj); err != nil {
		return nil, err
	}
	resp := emptyResponse(http.StatusOK)
	resp.Header.Set("ETag", quoteETag(obj.ETag))
	return resp, nil
}

// commitObject records obj, whose bytes the backend already holds. If the
// command certainly failed and no earlier record references the backing
// object, the backing object is removed so no invisible copy lingers.
// Replicas of a replaced record that live elsewhere are deleted.
func (g *Gateway) commitObject(ctx context.Context, be backend.Backend, obj fsm.Object) error {
	// The backend already holds the bytes (over those of any previous
	// version): wait for the command's real outcome even if the client
	// left, so a node shutting down (see Drain) does not stop raft under
	// it. The cluster's apply timeout still bounds the wait.
	ctx = context.WithoutCancel(ctx)
	res, err := g.apply(ctx, fsm.CmdPutObject, fsm.PutObject{Object: obj})
	if err != nil {
		if isDeterministic(err) {
			for _, r := range obj.Replicas {
				g.discardUnreferenced(ctx, be, obj.Bucket, obj.Key, r.Bucket)
			}
		}
		return err
	}
	if res.Previous != nil {
		g.deleteUnreferenced(ctx, *res.Previous, obj.Replicas)
	}
	return nil
}

// deleteUnreferenced deletes the replicas of a replaced or deleted record
// that the new record (keep) does not point at. Failures leave orphans
// for the cleanup worker and are logged.
func (g *Gateway) deleteUnreferenced(ctx context.Context, old fsm.Object, keep []fsm.Replica) {
	ctx = context.WithoutCancel(ctx)
	for _, r := range old.Replicas {
		if sameLocation(r, keep) {
			continue
		}
		be, err := g.backends.Get(ctx, r.BackendID)
		if err == nil {
			err = be.DeleteObject(ctx, r.Bucket, r.Key)
		}
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			g.log.Warn("orphan backing object left behind", "backend", r.BackendID, "bucket", r.Bucket, "key", r.Key, "err", err)
		}
	}
}

// sameLocation reports whether r names the same backing object as one of
// keep.
func sameLocation(r fsm.Replica, keep []fsm.Replica) bool {
	for _, k := range keep {
		if k.BackendID == r.BackendID && k.Bucket == r.Bucket && k.Key == r.Key {
			return true
		}
	}
	return false
}

// discardUnreferenced removes the backing object written for bucket/key
// in backingBucket unless a committed record still points at it (with the
// backing key equal to the client key, an overwrite that failed to commit
// shares its location with the previous version, whose record must keep
// its bytes).
func (g *Gateway) discardUnreferenced(ctx context.Context, be backend.Backend, bucket, key, backingBucket string) {
	o, ok, err := g.state.Object(bucket, key)
	if err != nil {
		g.log.Warn("orphan backing object left behind: cannot read its record", "bucket", backingBucket, "key", key, "err", err)
		return
	}
	if ok {
		for _, r := range o.Replicas {
			if r.Bucket == backingBucket && r.Key == key {
				g.log.Warn("failed overwrite replaced the bytes of a committed record", "bucket", bucket, "key", key)
				return
			}
		}
	}
	g.discardBacking(ctx, be, backingBucket, key)
}

// discardBacking removes a backing object no record references (best
// effort: a failure leaves an orphan for the cleanup worker).
func (g *Gateway) discardBacking(ctx context.Context, be backend.Backend, bucket, key string) {
	if err := be.DeleteObject(context.WithoutCancel(ctx), bucket, key); err != nil {
		g.log.Warn("orphan backing object left behind", "bucket", bucket, "key", key, "err", err)
	}
}
