package gateway

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// deleteObject is DELETE /bucket/key: idempotent (204 for a missing key).
func (g *Gateway) deleteObject(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:DeleteObject"); err != nil {
		return nil, err
	}
	if err := checkKey(req.Key); err != nil {
		return nil, err
	}
	if vs, ok := req.Query["versionId"]; ok && vs[0] != "null" {
		return nil, apiErrf(ErrNotImplemented, "Versioned deletes are not implemented.")
	}
	if _, err := g.bucket(ctx, req.Bucket); err != nil {
		return nil, err
	}
	if err := g.removeObject(ctx, req.Bucket, req.Key); err != nil {
		return nil, err
	}
	return emptyResponse(http.StatusNoContent), nil
}

// Why a delete removes the bytes before the record.
//
// Two nodes may write one key at the same time: the per-key lock orders
// writers on one node only. A write B (PUT, Copy, CompleteMultipartUpload)
// stores the backing object first (Bw; backing key == client key) and
// commits its record after (Bc). A delete A that committed first and then
// deleted the bytes lost acknowledged writes: Bw, A commits, Bc, A deletes
// the bytes, and B's acknowledged record points at nothing for good.
//
// So A reads the record r0, deletes r0's backing objects (Ad) and then
// removes the record only if it still is r0 (Ac: DeleteObject with
// IfReplicaETag and IfModTime). GET treats a record whose backing object
// is missing as deleted (404), and adopts other bytes than its record
// says (object_repair.go). Each outcome is then explained by taking A's
// effect at Ad and B's at Bw:
//
//   - Ad Ac Bw Bc, Bw Bc Ad Ac: sequential.
//   - Ad Bw Bc Ac: Ac finds B's record, its condition fails and A answers
//     success anyway; B's record and bytes survive (A before B). Between
//     Ad and Bw a GET sees r0 without bytes: 404, as A took effect.
//   - Ad Bw Ac Bc: Ac removes r0, Bc commits B: B after A.
//   - Bw Ad Bc Ac, Bw Ad Ac Bc: A deletes B's bytes, so B is before A and
//     the key is gone: a GET of the record left by Bc (or of r0) finds no
//     bytes and answers 404; a GET between Bw and Ad saw B's bytes
//     (adopted) or 503, both allowed while B is in flight.
//
// A condition on the replica ETag alone is not enough: a rewrite of the
// same bytes (an empty object, a retried upload) has the same ETag, and
// Ac would remove B's record in "Ad Bw Bc Ac". ModTime, set by the writer
// to the nanosecond, tells those versions apart. A GET between Bw and Bc
// of same-bytes B can still show r0's metadata over B's bytes: the backend
// guard (If-Match on the ETag) cannot see the difference.
//
// Records whose bytes are gone ("ghosts"). "Bw Ad Bc Ac" and "Bw Ad Ac
// Bc" leave B's record without bytes, and so does a delete whose backend
// step succeeded and whose commit did not. Such a record reads as 404 but
// stays listed and keeps its bucket from being deleted, so it is removed
// when a DELETE finds it after its own condition failed, and
// when a GET or HEAD finds it. Removing it is safe because it describes
// bytes that no longer exist, so the key already reads as deleted: the
// removal changes no answer but the listing. The removal is conditional
// on the ghost's own version (IfReplicaETag and IfModTime of the record
// that was checked): a writer that re-creates the key writes its bytes
// and then commits a new version with a new ModTime, so if it committed
// first the condition fails and its record stays, and if it commits
// after, its record replaces nothing. Either way it comes after the
// deletion the ghost stands for.
//
// That argument holds only if "not found" is true. A backend may answer
// "not found" for an object it stored a moment ago: an S3-compatible
// store that is only eventually consistent, or an fs backend on NFS whose
// client still caches the name as missing. Then, in "Ad Bw Bc Ac", A's
// re-read would see B's fresh record without bytes and remove an
// acknowledged write. So a ghost is removed only when its record is older
// than Config.RepairGrace (ModTime against this node's clock: the grace
// must also cover clock skew between nodes), the longest such a backend
// takes to show what it stored. A young ghost stays until a later GET,
// HEAD or DELETE of the key. And "not found" must be about the object: a
// backend that lost the whole backing bucket (a wrong endpoint, an
// unmounted share) answers "not found" for everything, so every
// replica's backing bucket must answer a listing first; any backend error
// stops the removal.
//
// What is still left behind: a young ghost until the key is read, written
// or deleted again after the grace, and a ghost on a backend that lost its
// backing bucket (404, listed) until an operator fixes the backend or
// deletes the key.

// maxGhostRounds bounds how many newer records a DELETE removes as ghosts
// after its own condition failed: each round means yet another writer
// committed meanwhile, which a new DELETE from the client can handle.
const maxGhostRounds = 2

// DefaultRepairGrace is Config.RepairGrace when it is zero. An NFS client
// may keep a name it saw as missing for as long as it caches its
// directory's attributes (acdirmax, 60 s by default); five minutes covers
// that, a lagging S3-compatible store and some clock skew, and is still
// short enough that a ghost leaves listings soon after it is read.
const DefaultRepairGrace = 5 * time.Minute

// removeObject deletes bucket/key: under the local per-key lock it reads
// the record, deletes its backing objects and then removes the record if
// no other writer replaced it meanwhile. A missing key succeeds at once.
func (g *Gateway) removeObject(ctx context.Context, bucket, key string) error {
	unlock := g.locks.lock(bucket, key)
	defer unlock()
	o, err := g.object(ctx, bucket, key)
	if isNoSuchKey(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// The client going away must not stop a delete half-way: its bytes
	// may already be gone.
	ctx = context.WithoutCancel(ctx)
	if err := g.deleteReplicas(ctx, o); err != nil {
		return err
	}
	removed, err := g.deleteIfCurrent(ctx, o)
	if err != nil || removed {
		return err
	}
	// Another writer committed a newer record after our backend delete:
	// that write comes after this delete, which is complete. The newer
	// record may describe bytes our backend delete removed (Bw Ad Bc Ac).
	g.removeNewerGhosts(ctx, bucket, key)
	return nil
}

// isNoSuchKey reports whether err is the gateway's NoSuchKey.
func isNoSuchKey(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == ErrNoSuchKey
}

// deleteReplicas deletes the backing objects of every replica of o; one
// already missing is fine. Any other failure is 503 with nothing
// committed (the replicas deleted so far read as missing: 404).
func (g *Gateway) deleteReplicas(ctx context.Context, o fsm.Object) error {
	for _, r := range o.Replicas {
		be, err := g.backend(ctx, r.BackendID)
		if err != nil {
			return err
		}
		if err := be.DeleteObject(ctx, r.Bucket, r.Key); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return &APIError{Code: ErrServiceUnavailable, Message: "The storage backend could not delete the object. Please retry.",
				Cause: fmt.Errorf("delete %s/%s on %s: %w", r.Bucket, r.Key, r.BackendID, err)}
		}
	}
	return nil
}

// deleteIfCurrent removes the record o if it is still the current
// version; removed is false, with no error, when another writer replaced
// it. (A record with neither replica nor ModTime, which no writer
// creates, has no version to compare and is removed unconditionally.)
func (g *Gateway) deleteIfCurrent(ctx context.Context, o fsm.Object) (removed bool, err error) {
	cmd := fsm.DeleteObject{Bucket: o.Bucket, Key: o.Key, IfModTime: o.ModTime}
	if len(o.Replicas) > 0 {
		cmd.IfReplicaETag = o.Replicas[0].ETag
	}
	_, err = g.apply(ctx, fsm.CmdDeleteObject, cmd)
	if errors.Is(err, fsm.ErrCode(fsm.CodePreconditionFailed)) {
		g.log.Debug("a newer record replaced the one read: kept it", "bucket", o.Bucket, "key", o.Key, "err", err)
		return false, nil
	}
	return err == nil, err
}

// removeNewerGhosts runs after a DELETE's condition failed, under the
// per-key lock: it reads the record again (strong read) and removes it if
// it is a ghost, and again if yet another writer replaced it meanwhile,
// at most maxGhostRounds times. The DELETE already took effect, so
// failures here are only logged.
func (g *Gateway) removeNewerGhosts(ctx context.Context, bucket, key string) {
	for range maxGhostRounds {
		cur, err := g.object(ctx, bucket, key)
		if isNoSuchKey(err) {
			return
		}
		if err != nil {
			g.log.Warn("delete: could not read the newer record to check its bytes", "bucket", bucket, "key", key, "err", err)
			return
		}
		ghost, err := g.isGhost(ctx, cur)
		if err != nil {
			g.log.Warn("delete: could not check the bytes of the newer record", "bucket", bucket, "key", key, "err", err)
		}
		if !ghost {
			return
		}
		removed, err := g.deleteGhost(ctx, cur)
		if err != nil {
			g.log.Warn("delete: could not remove a newer record without bytes", "bucket", bucket, "key", key, "err", err)
		}
		if removed || err != nil {
			return
		}
	}
}

// isGhost reports whether record o is a ghost (object_delete.go, top)
// that may be removed: older than the repair grace, every replica missing
// on its backend and every replica's backing bucket present. The caller
// holds the per-key lock, so no write of the key on this node is between
// its backend step and its commit.
func (g *Gateway) isGhost(ctx context.Context, o fsm.Object) (bool, error) {
	if !g.oldEnoughToRepair(o) {
		return false, nil
	}
	return g.bytesGone(ctx, o)
}

// deleteGhost removes the ghost o if it is still the current version;
// removed is false, with no error, when a writer replaced it.
func (g *Gateway) deleteGhost(ctx context.Context, o fsm.Object) (removed bool, err error) {
	removed, err = g.deleteIfCurrent(ctx, o)
	if removed {
		g.log.Warn("removed a record whose bytes are gone on every replica (a delete took effect; its commit failed or lost to a write it had overtaken)",
			"bucket", o.Bucket, "key", o.Key, "etag", o.ETag, "mod_time", o.ModTime)
	}
	return removed, err
}

// oldEnoughToRepair reports whether o is older than the repair grace, so
// that a backend that still does not show its bytes has lost them.
func (g *Gateway) oldEnoughToRepair(o fsm.Object) bool {
	grace := cmp.Or(g.cfg.RepairGrace, DefaultRepairGrace)
	return grace > 0 && g.cfg.Now().Sub(o.ModTime) >= grace
}

// bytesGone reports whether every replica of o is missing on a backend
// whose backing bucket exists. A record without replicas is not a ghost:
// no writer creates one, so it is left for a human to look at.
func (g *Gateway) bytesGone(ctx context.Context, o fsm.Object) (bool, error) {
	if len(o.Replicas) == 0 {
		return false, nil
	}
	for _, r := range o.Replicas {
		be, err := g.backend(ctx, r.BackendID)
		if err != nil {
			return false, err
		}
		_, err = be.HeadObject(ctx, r.Bucket, r.Key)
		switch {
		case err == nil:
			return false, nil
		case !errors.Is(err, backend.ErrNotFound):
			return false, fmt.Errorf("head %s/%s on %s: %w", r.Bucket, r.Key, r.BackendID, err)
		}
		if err := backingBucketExists(ctx, be, r); err != nil {
			return false, fmt.Errorf("replica %s/%s on %s: %w", r.Bucket, r.Key, r.BackendID, err)
		}
	}
	return true, nil
}

// errBackingBucketMissing: a replica's backing bucket answered "not
// found", so its objects' "not found" says nothing about the object.
var errBackingBucketMissing = errors.New("the backing bucket is missing: records are kept until the backend is fixed")

// backingBucketExists checks that r's backing bucket exists, the one
// thing a HEAD's "not found" cannot tell (backend.ErrNotFound covers
// bucket and object). It lists under the prefix "<key>/", which is
// narrow on every backend (fs walks only that directory); what it finds
// does not matter.
func backingBucketExists(ctx context.Context, be backend.Backend, r fsm.Replica) error {
	prefix := strings.TrimRight(r.Key, "/") + "/"
	_, _, err := be.ListObjects(ctx, r.Bucket, prefix, "", 1)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return fmt.Errorf("%w: %w", errBackingBucketMissing, err)
	case err != nil:
		return fmt.Errorf("list backing bucket %s: %w", r.Bucket, err)
	}
	return nil
}

// maxDeleteObjects is S3's limit of keys per DeleteObjects request.
const maxDeleteObjects = 1000

// maxDeleteBody bounds a DeleteObjects body: 1000 keys of up to 1024 bytes,
// each possibly XML-escaped, plus the markup.
const maxDeleteBody = 8 << 20

// deleteRequest is the DeleteObjects request body.
type deleteRequest struct {
	XMLName xml.Name         `xml:"Delete"`
	Quiet   bool             `xml:"Quiet"`
	Objects []objectToDelete `xml:"Object"`
}

type objectToDelete struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId"`
}

// deleteResult is the DeleteObjects response.
type deleteResult struct {
	XMLName xml.Name        `xml:"DeleteResult"`
	Xmlns   string          `xml:"xmlns,attr"`
	Deleted []deletedObject `xml:"Deleted"`
	Errors  []deleteError   `xml:"Error"`
}

type deletedObject struct {
	Key string `xml:"Key"`
}

type deleteError struct {
	Key     string `xml:"Key"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// parseDeleteRequest decodes and checks a DeleteObjects body.
func parseDeleteRequest(data []byte) (deleteRequest, error) {
	var d deleteRequest
	if err := decodeXML(data, &d); err != nil {
		return deleteRequest{}, err
	}
	if len(d.Objects) == 0 || len(d.Objects) > maxDeleteObjects {
		return deleteRequest{}, apiErrf(ErrMalformedXML, "A Delete request names 1 to %d objects, not %d.", maxDeleteObjects, len(d.Objects))
	}
	return d, nil
}

// deleteObjects is POST /bucket?delete. Each key is deleted independently;
// failures are reported per key and do not fail the request.
func (g *Gateway) deleteObjects(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:DeleteObject"); err != nil {
		return nil, err
	}
	wantMD5, err := parseContentMD5(req.Header)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, maxDeleteBody+1))
	if err != nil {
		return nil, fmt.Errorf("read Delete body: %w", err)
	}
	if len(data) > maxDeleteBody {
		return nil, apiErrf(ErrMalformedXML, "The Delete body is larger than %d bytes.", maxDeleteBody)
	}
	if wantMD5 != nil {
		if sum := md5.Sum(data); !bytes.Equal(sum[:], wantMD5) {
			return nil, apiErr(ErrBadDigest)
		}
	}
	d, err := parseDeleteRequest(data)
	if err != nil {
		return nil, err
	}
	if _, err := g.bucket(ctx, req.Bucket); err != nil {
		return nil, err
	}
	out := deleteResult{Xmlns: s3Namespace}
	for _, obj := range d.Objects {
		if err := g.deleteOne(ctx, req, obj); err != nil {
			ae := g.toAPIError(req, err)
			out.Errors = append(out.Errors, deleteError{Key: obj.Key, Code: string(ae.Code), Message: ae.message()})
			continue
		}
		if !d.Quiet {
			out.Deleted = append(out.Deleted, deletedObject{Key: obj.Key})
		}
	}
	return xmlResponse(out), nil
}

// deleteOne deletes one key of a DeleteObjects request.
func (g *Gateway) deleteOne(ctx context.Context, req *request, obj objectToDelete) error {
	if err := checkKey(obj.Key); err != nil {
		return err
	}
	if obj.VersionID != "" && obj.VersionID != "null" {
		return apiErrf(ErrNotImplemented, "Versioned deletes are not implemented.")
	}
	return g.removeObject(ctx, req.Bucket, obj.Key)
}
