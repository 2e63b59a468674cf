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

// uploadPart handles PUT /bucket/key?partNumber=N&uploadId=ID: it streams
// the part to the backend's native upload through a verifying reader (the
// backend sees an error instead of EOF when the Content-MD5 or the SigV4
// payload check fails, so no bad part is stored), then records the part.
// Uploading a part number again replaces the part.
func (g *Gateway) uploadPart(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:PutObject"); err != nil {
		return nil, err
	}
	n, err := parsePartNumber(req)
	if err != nil {
		return nil, err
	}
	if req.ContentLength < 0 {
		return nil, apiErr(ErrMissingContentLength)
	}
	if req.ContentLength > maxPartSize {
		return nil, &APIError{Code: ErrEntityTooLarge, Extra: map[string]string{
			"ProposedSize": fmt.Sprint(req.ContentLength), "MaxSizeAllowed": fmt.Sprint(maxPartSize)}}
	}
	wantMD5, err := parseContentMD5(req.Header)
	if err != nil {
		return nil, err
	}
	u, err := g.uploadOf(ctx, req)
	if err != nil {
		return nil, err
	}
	be, err := g.backend(ctx, u.Backing.BackendID)
	if err != nil {
		return nil, err
	}
	body := newVerifyingReader(req.Body, req.ContentLength, wantMD5)
	// An empty part is checked before the backend sees it: the backend
	// need not read an empty body, and an s3 backend replaces the native
	// part as soon as it accepts the upload, even if a check fails later.
	if err := body.VerifyEmpty(); err != nil {
		return nil, err
	}
	backendETag, err := be.UploadPart(ctx, u.Backing.Name, u.BackingKey, u.BackendUploadID, n, body, req.ContentLength)
	if f := body.Failure(); f != nil {
		return nil, f
	}
	if err != nil {
		return nil, backendUploadErr(u.ID, "upload part", err)
	}
	if !body.Verified() {
		return nil, fmt.Errorf("upload part %d of %s: %w", n, u.ID, errBodyNotConsumed)
	}
	etag := hex.EncodeToString(body.Sum())
	part := fsm.Part{
		UploadID:    u.ID,
		Number:      n,
		Size:        req.ContentLength,
		ETag:        etag,
		BackendETag: backendETag,
		ModTime:     g.cfg.Now().UTC(),
	}
	if _, err := g.apply(ctx, fsm.CmdPutPart, fsm.PutPart{Part: part}); err != nil {
		return nil, uploadApplyErr(u.ID, err)
	}
	resp := emptyResponse(http.StatusOK)
	resp.Header.Set("ETag", quoteETag(etag))
	return resp, nil
}

// backendUploadErr maps a backend failure on an existing upload: a backend
// that no longer knows the upload (aborted meanwhile, by a client or the
// reaper) is NoSuchUpload; anything else keeps its chain for the renderer.
func backendUploadErr(uploadID, op string, err error) error {
	if errors.Is(err, backend.ErrNotFound) {
		e := noSuchUpload(uploadID)
		e.Cause = fmt.Errorf("%s: %w", op, err)
		return e
	}
	return fmt.Errorf("%s of upload %s: %w", op, uploadID, err)
}

// uploadApplyErr names the upload in a NoSuchUpload command failure.
func uploadApplyErr(uploadID string, err error) error {
	if errors.Is(err, fsm.ErrCode(fsm.CodeNoSuchUpload)) {
		e := noSuchUpload(uploadID)
		e.Cause = err
		return e
	}
	return err
}
