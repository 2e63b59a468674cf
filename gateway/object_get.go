package gateway

import (
	"cmp"
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
// from the record once the backend confirmed it still holds its bytes.
func (g *Gateway) headObject(ctx context.Context, req *request) (*response, error) {
	return g.readObject(ctx, req, false)
}

// readObject serves GET and HEAD. Both check the record against a replica
// on the backend (GET reads it with If-Match on the replica's ETag, HEAD
// and answers without a body compare the ETag the backend reports): if
// the backing object changed after the record was read (a concurrent
// overwrite or delete), the record is read again once and the read
// retried. A second ETag mismatch with no write of the key in flight on
// this node is a write that reached the backend but never committed: the
// record adopts the backing object and the read is served from it
// (adoptBacking). A backing object that is still missing was removed by a
// delete, which deletes the bytes before the record (object_delete.go):
// the key reads as deleted, 404 NoSuchKey, and the record is removed once
// it is older than the repair grace (repairOnRead). Any other persistent
// mismatch is 503 rather than wrong bytes.
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
	switch {
	case errors.Is(err, errReplicaChanged) && errors.Is(err, backend.ErrNotFound):
		g.log.Warn("record without backing object read as deleted (a delete removed the bytes; its commit failed or lost to a newer write)",
			"id", req.ID, "bucket", req.Bucket, "key", req.Key, "err", err)
		g.repairOnRead(ctx, req, o)
		return nil, noSuchKey(req.Key)
	case errors.Is(err, errReplicaChanged):
		return nil, &APIError{Code: ErrServiceUnavailable, Message: "The object is being modified. Please retry.", Cause: err}
	}
	return resp, err
}

// repairOnRead removes the record o, which a read found without bytes on
// every replica, if it is a ghost old enough to remove (see the top of
// object_delete.go). It does nothing while a write or delete of the key
// holds the per-key lock on this node: that one is about to commit a
// record of its own, or to find this one. The read answers 404 either
// way, so failures are only logged.
func (g *Gateway) repairOnRead(ctx context.Context, req *request, o fsm.Object) {
	unlock, ok := g.locks.tryLock(o.Bucket, o.Key)
	if !ok {
		return
	}
	defer unlock()
	ghost, err := g.isGhost(ctx, o)
	if err == nil && ghost {
		_, err = g.deleteGhost(ctx, o)
	}
	if err != nil {
		g.log.Warn("read: record without bytes not removed", "id", req.ID, "bucket", o.Bucket, "key", o.Key, "err", err)
	}
}

// errReplicaChanged: the backing object no longer matches the record.
var errReplicaChanged = errors.New("backing object changed since the record was read")

// objectResponse evaluates preconditions and the range against record o
// and checks o against its backing object: for a GET with a body by
// opening the bytes on a replica, for anything else (HEAD, 304, an error
// the record alone decides) by asking the backend for the replica's ETag,
// so that no answer describes bytes a delete or an overwrite replaced.
func (g *Gateway) objectResponse(ctx context.Context, req *request, o fsm.Object, withBody bool) (*response, error) {
	resp, rng, err := recordResponse(req, o)
	if err != nil || !withBody || resp.Status == http.StatusNotModified {
		if serr := g.statReplica(ctx, o); serr != nil {
			return nil, serr
		}
		return resp, err
	}
	body, err := g.openReplica(ctx, o, rng)
	if err != nil {
		return nil, err
	}
	resp.Body = body
	return resp, nil
}

// recordResponse is the response to a GET or HEAD of record o without
// the body: headers, preconditions and the range (nil: whole object).
func recordResponse(req *request, o fsm.Object) (*response, *backend.Range, error) {
	resp := emptyResponse(http.StatusOK)
	h := resp.Header
	h.Set("ETag", quoteETag(o.ETag))
	h.Set("Last-Modified", o.ModTime.UTC().Format(http.TimeFormat))
	switch getConditions(req.Header).evaluate(o.ETag, o.ModTime) {
	case condNotModified:
		resp.Status = http.StatusNotModified
		return resp, nil, nil
	case condPrecondition:
		return nil, nil, apiErr(ErrPreconditionFailed)
	}
	rng, err := requestedRange(req, o, h)
	if err != nil {
		return nil, nil, err
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
	return resp, rng, nil
}

// openReplica opens the bytes of o on the first replica that answers.
func (g *Gateway) openReplica(ctx context.Context, o fsm.Object, rng *backend.Range) (io.ReadCloser, error) {
	var body io.ReadCloser
	err := g.eachReplica(ctx, o, func(be backend.Backend, r fsm.Replica) error {
		var err error
		body, _, err = be.GetObject(ctx, r.Bucket, r.Key, rng, r.ETag)
		return err
	})
	return body, err
}

// statReplica checks that a replica of o holds the bytes o describes.
func (g *Gateway) statReplica(ctx context.Context, o fsm.Object) error {
	return g.eachReplica(ctx, o, func(be backend.Backend, r fsm.Replica) error {
		info, err := be.HeadObject(ctx, r.Bucket, r.Key)
		if err == nil && info.ETag != r.ETag {
			err = fmt.Errorf("%w: backend ETag %q, record %q", backend.ErrPreconditionFailed, info.ETag, r.ETag)
		}
		return err
	})
}

// eachReplica runs try on the replicas of o in order until one succeeds.
// When none does, the error says why, in this order of precedence: a
// replica that could not be read (503), one holding other bytes
// (errReplicaChanged wrapping backend.ErrPreconditionFailed), and only
// when every replica is missing errReplicaChanged wrapping
// backend.ErrNotFound.
func (g *Gateway) eachReplica(ctx context.Context, o fsm.Object, try func(backend.Backend, fsm.Replica) error) error {
	if len(o.Replicas) == 0 {
		return &APIError{Code: ErrInternalError, Cause: fmt.Errorf("object %s/%s has no replica", o.Bucket, o.Key)}
	}
	var failed, changed, missing error
	for _, r := range o.Replicas {
		be, err := g.backend(ctx, r.BackendID)
		if err == nil {
			err = try(be, r)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, backend.ErrPreconditionFailed):
			changed = fmt.Errorf("%w: %s/%s on %s: %w", errReplicaChanged, r.Bucket, r.Key, r.BackendID, err)
		case errors.Is(err, backend.ErrNotFound):
			missing = fmt.Errorf("%w: %s/%s on %s: %w", errReplicaChanged, r.Bucket, r.Key, r.BackendID, err)
		default:
			failed = fmt.Errorf("read %s/%s on %s: %w", r.Bucket, r.Key, r.BackendID, err)
		}
	}
	return cmp.Or(failed, changed, missing)
}

// requestedRange resolves the Range header or the partNumber query
// argument (never both, as in S3) against record o.
func requestedRange(req *request, o fsm.Object, h http.Header) (*backend.Range, error) {
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
