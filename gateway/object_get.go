package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// responseOverrides are the GetObject query arguments that replace a
// response header (honoured on signed requests only; strata has no
// anonymous access).
var responseOverrides = []struct{ query, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// getObject is GET /bucket/key.
func (g *Gateway) getObject(ctx context.Context, req *request) (*response, error) {
	return g.readObject(ctx, req, true)
}

// headObject is HEAD /bucket/key: GetObject's headers without the body,
// answered from the record alone.
func (g *Gateway) headObject(ctx context.Context, req *request) (*response, error) {
	return g.readObject(ctx, req, false)
}

// readObject serves GET and HEAD. The backend read is guarded by the
// replica's ETag: if the backing object changed after the record was read
// (a concurrent overwrite or delete), the record is read again once and the
// read retried. A second ETag mismatch with no write of the key in flight
// on this node is a write that reached the backend but never committed:
// the record adopts the backing object and the read is served from it
// (adoptBacking). Otherwise a second mismatch, or a missing backing
// object, is 503 rather than wrong bytes. HEAD answers from the record
// alone, so it can show the stale record until the first GET repairs it.
func (g *Gateway) readObject(ctx context.Context, req *request, withBody bool) (*response, error) {
	if err := g.authorize(ctx, req, "s3:GetObject"); err != nil {
		return nil, err
	}
	if err := checkKey(req.Key); err != nil {
		return nil, err
	}
	o, err := g.object(ctx, req.Bucket, req.Key)
	if err != nil {
		return nil, err
	}
	resp, err := g.objectResponse(ctx, req, o, withBody)
	if !errors.Is(err, errReplicaChanged) {
		return resp, err
	}
	if err := g.barrier(ctx); err != nil {
		return nil, err
	}
	if o, err = g.localObject(req.Bucket, req.Key); err != nil {
		return nil, err
	}
	resp, err = g.objectResponse(ctx, req, o, withBody)
	if errors.Is(err, errReplicaChanged) && errors.Is(err, backend.ErrPreconditionFailed) {
		// Still other bytes than the record says: unless a write on
		// this node explains it, a crash between a write's backend step
		// and its commit left them (see object_repair.go).
		resp, err = g.readAdopted(ctx, req, o, withBody)
	}
	if errors.Is(err, errReplicaChanged) {
		return nil, &APIError{Code: ErrServiceUnavailable, Message: "The object is being modified. Please retry.", Cause: err}
	}
	return resp, err
}

// errReplicaChanged: the backing object no longer matches the record.
var errReplicaChanged = errors.New("backing object changed since the record was read")

// objectResponse evaluates preconditions and the range against record o
// and, for GET, opens the bytes on a replica.
func (g *Gateway) objectResponse(ctx context.Context, req *request, o fsm.Object, withBody bool) (*response, error) {
	resp := emptyResponse(http.StatusOK)
	h := resp.Header
	h.Set("ETag", quoteETag(o.ETag))
	h.Set("Last-Modified", o.ModTime.UTC().Format(http.TimeFormat))
	switch getConditions(req.Header).evaluate(o.ETag, o.ModTime) {
	case condNotModified:
		resp.Status = http.StatusNotModified
		return resp, nil
	case condPrecondition:
		return nil, apiErr(ErrPreconditionFailed)
	}
	rng, err := g.requestedRange(req, o, h)
	if err != nil {
		return nil, err
	}
	setMetaHeaders(h, o.Meta)
	h.Set("Accept-Ranges", "bytes")
	length := o.Size
	if rng != nil {
		length = rng.End - rng.Start + 1
		resp.Status = http.StatusPartialContent
		h.Set("Content-Range", contentRange(*rng, o.Size))
	}
	for _, ov := range responseOverrides {
		if v := req.Query.Get(ov.query); v != "" {
			h.Set(ov.header, v)
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	resp.ContentLength = length
	if !withBody {
		return resp, nil
	}
	body, err := g.openReplica(ctx, o, rng)
	if err != nil {
		return nil, err
	}
	resp.Body = body
	return resp, nil
}

// openReplica opens the bytes of o on the first replica that answers.
func (g *Gateway) openReplica(ctx context.Context, o fsm.Object, rng *backend.Range) (io.ReadCloser, error) {
	if len(o.Replicas) == 0 {
		return nil, &APIError{Code: ErrInternalError, Cause: fmt.Errorf("object %s/%s has no replica", o.Bucket, o.Key)}
	}
	var lastErr error
	for _, r := range o.Replicas {
		be, err := g.backend(ctx, r.BackendID)
		if err != nil {
			lastErr = err
			continue
		}
		body, _, err := be.GetObject(ctx, r.Bucket, r.Key, rng, r.ETag)
		switch {
		case err == nil:
			return body, nil
		case errors.Is(err, backend.ErrPreconditionFailed), errors.Is(err, backend.ErrNotFound):
			lastErr = fmt.Errorf("%w: %s/%s on %s: %w", errReplicaChanged, r.Bucket, r.Key, r.BackendID, err)
		default:
			lastErr = fmt.Errorf("read %s/%s on %s: %w", r.Bucket, r.Key, r.BackendID, err)
		}
	}
	return nil, lastErr
}

// requestedRange resolves the Range header or the partNumber query
// argument (never both, as in S3) against record o.
func (g *Gateway) requestedRange(req *request, o fsm.Object, h http.Header) (*backend.Range, error) {
	pn, ok := req.Query["partNumber"]
	if !ok {
		return parseRange(req.Header.Get("Range"), o.Size)
	}
	if req.Header.Get("Range") != "" {
		return nil, apiErrf(ErrInvalidRequest, "Cannot specify both Range header and partNumber query parameter.")
	}
	n, err := strconv.Atoi(pn[0])
	if err != nil || n < 1 || n > 10000 {
		return nil, apiErrf(ErrInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
	}
	if len(o.PartSizes) > 0 {
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(len(o.PartSizes)))
	}
	return partRange(o, n)
}

// partRange is the byte range of part n of o. A single-part object has
// exactly one part: the whole object.
func partRange(o fsm.Object, n int) (*backend.Range, error) {
	sizes := o.PartSizes
	if len(sizes) == 0 {
		sizes = []int64{o.Size}
	}
	if n > len(sizes) {
		return nil, apiErr(ErrInvalidPartNumber)
	}
	var start int64
	for _, sz := range sizes[:n-1] {
		start += sz
	}
	if sizes[n-1] == 0 {
		// An empty part (only an empty object has one): no range to send.
		return nil, nil
	}
	return &backend.Range{Start: start, End: start + sizes[n-1] - 1}, nil
}
