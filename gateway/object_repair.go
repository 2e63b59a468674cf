package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// A PUT or CompleteMultipartUpload writes the backing object first and
// commits the record after. The backing key is the client key, so the new
// bytes replace the previous version's; a process killed between the two
// steps leaves a record whose replica ETag no longer matches its backing
// object, and every GET of the key would fail its If-Match guard forever.
// The previous bytes are gone, so the only consistent outcome is to make
// the unacknowledged write visible (S3 allows a write that was never
// acknowledged to take effect): adoptBacking rewrites the record from the
// backing object.

// errWriteInFlight: a writer of the key on this node holds the per-key
// lock, so the mismatch may be its own write between backend and commit.
var errWriteInFlight = fmt.Errorf("%w: a write of the key is in flight on this node", errReplicaChanged)

// readAdopted serves a read whose record o no longer matches its backing
// object even after a fresh read (the backend reported an ETag mismatch,
// not a missing object): it adopts the backing object, or finds the record
// changed meanwhile, and reads once more.
func (g *Gateway) readAdopted(ctx context.Context, req *request, o fsm.Object, withBody bool) (*response, error) {
	cur, err := g.adoptBacking(ctx, req, o)
	if err != nil {
		return nil, err
	}
	return g.objectResponse(ctx, req, cur, withBody)
}

// adoptBacking returns the record to read after o failed its replica
// check: the current record when it changed since o or its backing object
// matches it again, else a record describing the backing object as it is,
// committed only if the record still is o's (compare-and-set on the
// replica ETag). It never deletes anything and touches no other key. When
// a write of the key is in flight on this node it does nothing and fails
// with errWriteInFlight: that writer will commit its own record.
func (g *Gateway) adoptBacking(ctx context.Context, req *request, o fsm.Object) (fsm.Object, error) {
	unlock, ok := g.locks.tryLock(o.Bucket, o.Key)
	if !ok {
		return fsm.Object{}, errWriteInFlight
	}
	defer unlock()
	cur, err := g.object(ctx, o.Bucket, o.Key)
	if err != nil || !sameVersion(cur, o) || len(cur.Replicas) == 0 {
		return cur, err
	}
	r := cur.Replicas[0]
	info, err := g.headReplica(ctx, r)
	if err != nil || info.ETag == r.ETag {
		return cur, err
	}
	rec := adoptedRecord(cur, info)
	_, err = g.apply(ctx, fsm.CmdPutObject, fsm.PutObject{Object: rec, IfReplicaETag: r.ETag})
	if errors.Is(err, fsm.ErrCode(fsm.CodePreconditionFailed)) {
		// Another writer (or another node's repair) changed the record
		// since we read it: read what it committed.
		return g.object(ctx, o.Bucket, o.Key)
	}
	if err != nil {
		return fsm.Object{}, err
	}
	g.log.Warn("adopted a backing object whose write was not acknowledged (crash between backend write and commit)",
		"id", req.ID, "bucket", rec.Bucket, "key", rec.Key, "old_etag", r.ETag, "new_etag", info.ETag)
	return rec, nil
}

// headReplica reads the backing object of replica r. A missing backing
// object is not adopted (a backend that says "not found" must never cost
// a record): it stays a replica mismatch, which readObject answers as a
// deleted key (the bytes of a delete go first, see object_delete.go).
func (g *Gateway) headReplica(ctx context.Context, r fsm.Replica) (backend.ObjectInfo, error) {
	be, err := g.backend(ctx, r.BackendID)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	info, err := be.HeadObject(ctx, r.Bucket, r.Key)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return backend.ObjectInfo{}, fmt.Errorf("%w: %s/%s on %s: %w", errReplicaChanged, r.Bucket, r.Key, r.BackendID, err)
	case err != nil:
		return backend.ObjectInfo{}, fmt.Errorf("head %s/%s on %s: %w", r.Bucket, r.Key, r.BackendID, err)
	}
	return info, nil
}

// adoptedRecord is old rewritten to describe the backing object info of
// its first replica: the bytes, ETag, metadata and time the backend holds,
// the owner of old. The backend's ETag is the S3 ETag strata itself
// computes for what it writes (hex MD5, or md5-of-part-md5s-N for a
// completed multipart upload), so clients see the value the lost write
// would have returned. Part sizes are unknown: GET ?partNumber treats the
// object as a single part.
func adoptedRecord(old fsm.Object, info backend.ObjectInfo) fsm.Object {
	r := old.Replicas[0]
	r.ETag = info.ETag
	return fsm.Object{
		Bucket:   old.Bucket,
		Key:      old.Key,
		Size:     info.Size,
		ETag:     info.ETag,
		Meta:     objectMeta(info.Meta),
		Owner:    old.Owner,
		ModTime:  info.ModTime.UTC(),
		Replicas: []fsm.Replica{r},
	}
}

// sameVersion reports whether a and b are the same record version: same
// ETag, time, size and first replica.
func sameVersion(a, b fsm.Object) bool {
	if a.ETag != b.ETag || a.Size != b.Size || !a.ModTime.Equal(b.ModTime) || len(a.Replicas) != len(b.Replicas) {
		return false
	}
	return len(a.Replicas) == 0 || a.Replicas[0] == b.Replicas[0]
}
