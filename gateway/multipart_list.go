package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// maxListParts bounds max-parts and max-uploads, as in S3.
const maxListParts = 1000

// storageClassStandard is the only storage class strata reports.
const storageClassStandard = "STANDARD"

// listPartsResult is the ListParts response.
type listPartsResult struct {
	XMLName              xml.Name  `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string    `xml:"Bucket"`
	Key                  string    `xml:"Key"`
	UploadID             string    `xml:"UploadId"`
	Initiator            owner     `xml:"Initiator"`
	Owner                owner     `xml:"Owner"`
	StorageClass         string    `xml:"StorageClass"`
	PartNumberMarker     int       `xml:"PartNumberMarker"`
	NextPartNumberMarker int       `xml:"NextPartNumberMarker"`
	MaxParts             int       `xml:"MaxParts"`
	IsTruncated          bool      `xml:"IsTruncated"`
	Parts                []partXML `xml:"Part"`
}

// partXML is one Part of ListParts.
type partXML struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

// listMultipartUploadsResult is the ListMultipartUploads response.
type listMultipartUploadsResult struct {
	XMLName            xml.Name          `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string            `xml:"Bucket"`
	KeyMarker          string            `xml:"KeyMarker"`
	UploadIDMarker     string            `xml:"UploadIdMarker"`
	NextKeyMarker      string            `xml:"NextKeyMarker"`
	NextUploadIDMarker string            `xml:"NextUploadIdMarker"`
	Delimiter          string            `xml:"Delimiter,omitempty"`
	Prefix             string            `xml:"Prefix"`
	EncodingType       string            `xml:"EncodingType,omitempty"`
	MaxUploads         int               `xml:"MaxUploads"`
	IsTruncated        bool              `xml:"IsTruncated"`
	Uploads            []uploadXML       `xml:"Upload"`
	CommonPrefixes     []commonPrefixXML `xml:"CommonPrefixes"`
}

// uploadXML is one Upload of ListMultipartUploads.
type uploadXML struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    owner  `xml:"Initiator"`
	Owner        owner  `xml:"Owner"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
}

// commonPrefixXML is one CommonPrefixes entry of ListMultipartUploads.
type commonPrefixXML struct {
	Prefix string `xml:"Prefix"`
}

// abortMultipartUpload handles DELETE /bucket/key?uploadId=ID: the native
// upload is discarded first (a backend that no longer knows it is fine),
// then the record, so a failure leaves a record that can be aborted again
// rather than staged parts nobody knows about.
func (g *Gateway) abortMultipartUpload(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:AbortMultipartUpload"); err != nil {
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
	err = be.AbortMultipart(ctx, u.Backing.Name, u.BackingKey, u.BackendUploadID)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return nil, fmt.Errorf("abort upload %s on backend: %w", u.ID, err)
	}
	if _, err := g.apply(ctx, fsm.CmdAbortUpload, fsm.AbortUpload{UploadID: u.ID}); err != nil {
		return nil, uploadApplyErr(u.ID, err)
	}
	return emptyResponse(http.StatusNoContent), nil
}

// listParts handles GET /bucket/key?uploadId=ID.
func (g *Gateway) listParts(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:ListMultipartUploadParts"); err != nil {
		return nil, err
	}
	maxParts, err := queryInt(req.Query, "max-parts", maxListParts, 0, maxListParts)
	if err != nil {
		return nil, err
	}
	marker, err := queryInt(req.Query, "part-number-marker", 0, 0, maxPartNumber)
	if err != nil {
		return nil, err
	}
	u, err := g.uploadOf(ctx, req)
	if err != nil {
		return nil, err
	}
	res := listPartsResult{
		Bucket:           u.Bucket,
		Key:              u.Key,
		UploadID:         u.ID,
		Initiator:        owner{ID: u.Owner, DisplayName: u.Owner},
		Owner:            owner{ID: u.Owner, DisplayName: u.Owner},
		StorageClass:     storageClassStandard,
		PartNumberMarker: marker,
		MaxParts:         maxParts,
	}
	if maxParts == 0 {
		// S3 answers max-parts=0 with an empty, untruncated page.
		return xmlResponse(res), nil
	}
	parts, truncated, err := g.state.Parts(u.ID, marker, maxParts)
	if err != nil {
		return nil, uploadApplyErr(u.ID, err)
	}
	res.IsTruncated = truncated
	for _, p := range parts {
		res.Parts = append(res.Parts, partXML{
			PartNumber:   p.Number,
			LastModified: s3Time(p.ModTime),
			ETag:         quoteETag(p.ETag),
			Size:         p.Size,
		})
		res.NextPartNumberMarker = p.Number
	}
	return xmlResponse(res), nil
}

// listMultipartUploads handles GET /bucket?uploads.
func (g *Gateway) listMultipartUploads(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:ListBucketMultipartUploads"); err != nil {
		return nil, err
	}
	q := req.Query
	maxUploads, err := queryInt(q, "max-uploads", maxListParts, 0, maxListParts)
	if err != nil {
		return nil, err
	}
	encoding := q.Get("encoding-type")
	if encoding != "" && encoding != "url" {
		return nil, apiErrf(ErrInvalidArgument, "Invalid Encoding Method specified in Request")
	}
	if _, err := g.bucket(ctx, req.Bucket); err != nil {
		return nil, err
	}
	opts := fsm.ListUploadsOptions{
		Prefix:         q.Get("prefix"),
		Delimiter:      q.Get("delimiter"),
		KeyMarker:      q.Get("key-marker"),
		UploadIDMarker: q.Get("upload-id-marker"),
		MaxUploads:     maxUploads,
	}
	if opts.KeyMarker == "" {
		// S3 ignores upload-id-marker without key-marker.
		opts.UploadIDMarker = ""
	}
	enc := func(s string) string {
		if encoding == "url" {
			return s3URLEncode(s)
		}
		return s
	}
	res := listMultipartUploadsResult{
		Bucket:         req.Bucket,
		KeyMarker:      enc(opts.KeyMarker),
		UploadIDMarker: opts.UploadIDMarker,
		Delimiter:      enc(opts.Delimiter),
		Prefix:         enc(opts.Prefix),
		EncodingType:   encoding,
		MaxUploads:     maxUploads,
	}
	if maxUploads == 0 {
		return xmlResponse(res), nil
	}
	page, err := g.state.ListUploads(req.Bucket, opts)
	if err != nil {
		return nil, fmt.Errorf("list uploads of %q: %w", req.Bucket, err)
	}
	res.IsTruncated = page.Truncated
	if page.Truncated {
		res.NextKeyMarker = enc(page.NextKeyMarker)
		res.NextUploadIDMarker = page.NextUploadIDMarker
	}
	for _, u := range page.Uploads {
		res.Uploads = append(res.Uploads, uploadXML{
			Key:          enc(u.Key),
			UploadID:     u.ID,
			Initiator:    owner{ID: u.Owner, DisplayName: u.Owner},
			Owner:        owner{ID: u.Owner, DisplayName: u.Owner},
			StorageClass: storageClassStandard,
			Initiated:    s3Time(u.Initiated),
		})
	}
	for _, p := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefixXML{Prefix: enc(p)})
	}
	return xmlResponse(res), nil
}

// queryInt parses an optional integer query argument within [min, max];
// values above max are clamped (S3 caps max-keys and friends silently),
// anything unparsable or below min is InvalidArgument.
func queryInt(q url.Values, name string, def, min, max int) (int, error) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 || vs[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < min {
		return 0, apiErrf(ErrInvalidArgument, "Argument %s must be an integer between %d and %d.", name, min, 2147483647)
	}
	if n > max {
		n = max
	}
	return n, nil
}
