package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/stratagw/strata/gateway/sigv4"
)

// authenticate verifies the request's SigV4 signature, replaces the body
// with the verifying reader and fills in the caller's identity. Anonymous
// requests are denied: strata has no public buckets yet.
func (g *Gateway) authenticate(ctx context.Context, req *request) error {
	auth, err := g.verifier.Verify(req.HTTP)
	if err != nil {
		return err
	}
	if auth == nil || auth.Anonymous {
		return apiErrf(ErrAccessDenied, "Anonymous access is not allowed.")
	}
	id, _, ok, err := g.creds.Lookup(ctx, auth.AccessKey)
	if err != nil {
		return fmt.Errorf("look up identity: %w", err)
	}
	if !ok {
		// The key was deleted between the signature check and now.
		return apiErr(ErrInvalidAccessKeyID)
	}
	req.Identity = id
	if auth.Body != nil {
		req.Body = auth.Body
		req.HTTP.Body = auth.Body
	}
	req.ContentLength = auth.DecodedContentLength
	// With aws-chunked framing Content-Length is the framed length, not
	// the object size: never fall back to it then.
	if req.ContentLength < 0 && req.HTTP.ContentLength >= 0 && !auth.AWSChunked {
		req.ContentLength = req.HTTP.ContentLength
	}
	return nil
}

// authorize is the single policy decision point of every handler. Every
// authenticated identity may do everything until IAM lands; the action
// names (S3's, e.g. "s3:PutObject") are already passed so that policy
// evaluation can slot in here without touching the handlers.
func (g *Gateway) authorize(_ context.Context, req *request, action string) error {
	if req.Identity.AccessKey == "" {
		return apiErrf(ErrAccessDenied, "Access Denied for %s.", action)
	}
	return nil
}

// sigv4APIError converts a verifier error to the S3 error the client sees.
// ok is false when err holds no *sigv4.Error.
func sigv4APIError(err error) (*APIError, bool) {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		return nil, false
	}
	code := ErrorCode(se.Code)
	if _, known := errorTable[code]; !known {
		return &APIError{Code: ErrInternalError, Cause: err}, true
	}
	return &APIError{Code: code, Message: se.Message, Cause: err}, true
}
