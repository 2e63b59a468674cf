package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// deleteBucket is DELETE /bucket. The record goes first (the FSM refuses
// with BucketNotEmpty while objects exist and drops any upload records),
// then the native uploads and the backing buckets are removed. Backend
// failures after the commit are logged, not returned: an orphan backing
// bucket is harmless and the virtual bucket is gone either way.
func (g *Gateway) deleteBucket(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:DeleteBucket"); err != nil {
		return nil, err
	}
	b, err := g.bucket(ctx, req.Bucket)
	if err != nil {
		return nil, err
	}
	empty, err := g.state.BucketEmpty(b.Name)
	if err != nil {
		return nil, fmt.Errorf("check bucket %q: %w", b.Name, err)
	}
	if !empty {
		return nil, &APIError{Code: ErrBucketNotEmpty, Extra: map[string]string{"BucketName": b.Name}}
	}
	uploads, err := g.bucketUploads(b.Name)
	if err != nil {
		return nil, err
	}
	if _, err := g.apply(ctx, fsm.CmdDeleteBucket, fsm.DeleteBucket{Name: b.Name}); err != nil {
		var fe *fsm.Error
		if errors.As(err, &fe) && fe.Code == fsm.CodeBucketNotEmpty {
			return nil, &APIError{Code: ErrBucketNotEmpty, Extra: map[string]string{"BucketName": b.Name}, Cause: err}
		}
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	g.abortBackendUploads(ctx, uploads)
	for _, bb := range b.Backings {
		be, err := g.backends.Get(ctx, bb.BackendID)
		if err == nil {
			err = be.DeleteBucket(ctx, bb.Name)
		}
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			g.log.Warn("backing bucket not removed after DeleteBucket (orphan)", "bucket", b.Name,
				"backend", bb.BackendID, "backing", bb.Name, "err", err)
		}
	}
	return emptyResponse(http.StatusNoContent), nil
}

// bucketUploads lists every in-progress upload of a bucket.
func (g *Gateway) bucketUploads(bucket string) ([]fsm.Upload, error) {
	var all []fsm.Upload
	opts := fsm.ListUploadsOptions{MaxUploads: 1000}
	for {
		res, err := g.state.ListUploads(bucket, opts)
		if err != nil {
			return nil, fmt.Errorf("list uploads of %q: %w", bucket, err)
		}
		all = append(all, res.Uploads...)
		if !res.Truncated || len(res.Uploads) == 0 {
			return all, nil
		}
		opts.KeyMarker, opts.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// abortBackendUploads discards the native uploads whose records a
// DeleteBucket removed, so their staged parts do not block or leak.
func (g *Gateway) abortBackendUploads(ctx context.Context, uploads []fsm.Upload) {
	for _, u := range uploads {
		be, err := g.backends.Get(ctx, u.Backing.BackendID)
		if err == nil {
			err = be.AbortMultipart(ctx, u.Backing.Name, u.BackingKey, u.BackendUploadID)
		}
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			g.log.Warn("native upload not aborted after DeleteBucket", "upload", u.ID,
				"backend", u.Backing.BackendID, "err", err)
		}
	}
}
