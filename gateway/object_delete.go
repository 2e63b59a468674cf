package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"

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
// What is left behind: a delete whose backend step succeeded and whose
// commit did not (or the "B before A" cases) keeps a record without
// bytes. It reads as 404 and stays listed until the key is written or
// deleted again.

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
	return g.commitDelete(ctx, o)
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

// commitDelete removes the record o if it is still the current version.
// A failed condition is success: another writer committed a newer record
// after our backend delete, and that write comes after this delete. (A
// record with neither replica nor ModTime, which no writer creates, has
// no version to compare and is removed unconditionally.)
func (g *Gateway) commitDelete(ctx context.Context, o fsm.Object) error {
	cmd := fsm.DeleteObject{Bucket: o.Bucket, Key: o.Key, IfModTime: o.ModTime}
	if len(o.Replicas) > 0 {
		cmd.IfReplicaETag = o.Replicas[0].ETag
	}
	_, err := g.apply(ctx, fsm.CmdDeleteObject, cmd)
	if errors.Is(err, fsm.ErrCode(fsm.CodePreconditionFailed)) {
		g.log.Debug("delete found a newer record: kept it", "bucket", o.Bucket, "key", o.Key, "err", err)
		return nil
	}
	return err
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
