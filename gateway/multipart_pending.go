package gateway

import "context"

// uploadPartCopy handles UploadPart with x-amz-copy-source.
func (g *Gateway) uploadPartCopy(ctx context.Context, req *request) (*response, error) {
	return nil, apiErr(ErrNotImplemented)
}
