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

// removeObject commits the removal of a record first, then deletes the
// backing bytes it pointed at: once the commit is acknowledged the object
// is gone for every client, and a backend failure after it only leaves an
// orphan for the cleanup worker (logged).
func (g *Gateway) removeObject(ctx context.Context, bucket, key string) error {
	unlock := g.locks.lock(bucket, key)
	defer unlock()
	res, err := g.apply(ctx, fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: bucket, Key: key})
	if err != nil {
		return err
	}
	if res.Previous != nil {
		g.deleteUnreferenced(ctx, *res.Previous, nil)
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
	err := g.removeObject(ctx, req.Bucket, obj.Key)
	var fe *fsm.Error
	if errors.As(err, &fe) && fe.Code == fsm.CodeNoSuchKey {
		return nil
	}
	return err
}
