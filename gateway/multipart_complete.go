package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

const (
	// maxCompleteBody bounds the CompleteMultipartUpload document: 10,000
	// parts with an ETag and a checksum each stay well under it.
	maxCompleteBody = 4 << 20
	// maxMultipartSize is S3's largest object: 5 TiB.
	maxMultipartSize int64 = 5 << 40
	// keepAliveAfter is how long Complete waits for the backend before it
	// commits to a 200 and starts sending keep-alive white space, as S3
	// does for completes that take a while (large fs assemblies).
	keepAliveAfter = 2 * time.Second
	// keepAliveInterval is the time between two keep-alive spaces.
	keepAliveInterval = 5 * time.Second
)

// completeMultipartUploadRequest is the CompleteMultipartUpload body.
type completeMultipartUploadRequest struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []completePart `xml:"Part"`
}

// completePart is one Part of the request (checksum elements are ignored:
// the parts' checksums were verified when they were uploaded).
type completePart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
}

// completeMultipartUploadResult is the CompleteMultipartUpload response.
type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// completePlan is a validated CompleteMultipartUpload: what to ask the
// backend for and what the object record will say.
type completePlan struct {
	backendParts []backend.CompletedPart
	sizes        []int64
	total        int64
	etag         string
}

// parseCompleteRequest reads (bounded) and checks the shape of the request
// body: at least one part, part numbers in range and strictly ascending.
func parseCompleteRequest(body io.Reader) ([]completePart, error) {
	var doc completeMultipartUploadRequest
	if err := readXMLBody(body, maxCompleteBody, &doc); err != nil {
		return nil, err
	}
	if len(doc.Parts) == 0 {
		return nil, apiErrf(ErrMalformedXML, "You must specify at least one part.")
	}
	if len(doc.Parts) > maxPartNumber {
		return nil, apiErrf(ErrMalformedXML, "A multipart upload has at most %d parts.", maxPartNumber)
	}
	for i, p := range doc.Parts {
		if p.PartNumber < 1 || p.PartNumber > maxPartNumber {
			return nil, invalidPart(p, fmt.Sprintf("Part number %d is outside 1..%d.", p.PartNumber, maxPartNumber))
		}
		if i > 0 && p.PartNumber <= doc.Parts[i-1].PartNumber {
			return nil, apiErr(ErrInvalidPartOrder)
		}
	}
	return doc.Parts, nil
}

// planComplete matches the listed parts against the recorded ones: each
// must have been uploaded with that ETag (quotes optional), and every part
// but the last must be at least 5 MiB.
func planComplete(listed []completePart, recorded []fsm.Part) (completePlan, error) {
	byNumber := make(map[int]fsm.Part, len(recorded))
	for _, p := range recorded {
		byNumber[p.Number] = p
	}
	plan := completePlan{
		backendParts: make([]backend.CompletedPart, 0, len(listed)),
		sizes:        make([]int64, 0, len(listed)),
	}
	etags := make([]string, 0, len(listed))
	for i, lp := range listed {
		rec, ok := byNumber[lp.PartNumber]
		if !ok || normalizeETag(lp.ETag) != strings.ToLower(rec.ETag) {
			return completePlan{}, invalidPart(lp, "")
		}
		if i < len(listed)-1 && rec.Size < minPartSize {
			return completePlan{}, &APIError{Code: ErrEntityTooSmall, Extra: map[string]string{
				"ProposedSize":   fmt.Sprint(rec.Size),
				"MinSizeAllowed": fmt.Sprint(minPartSize),
				"PartNumber":     fmt.Sprint(rec.Number),
				"ETag":           rec.ETag,
			}}
		}
		plan.backendParts = append(plan.backendParts, backend.CompletedPart{Number: rec.Number, ETag: rec.BackendETag})
		plan.sizes = append(plan.sizes, rec.Size)
		plan.total += rec.Size
		etags = append(etags, rec.ETag)
	}
	if plan.total > maxMultipartSize {
		return completePlan{}, &APIError{Code: ErrEntityTooLarge, Extra: map[string]string{
			"ProposedSize": fmt.Sprint(plan.total), "MaxSizeAllowed": fmt.Sprint(maxMultipartSize)}}
	}
	etag, err := multipartETag(etags)
	if err != nil {
		return completePlan{}, fmt.Errorf("multipart ETag: %w", err)
	}
	plan.etag = etag
	return plan, nil
}

// invalidPart is InvalidPart naming the offending part.
func invalidPart(p completePart, msg string) *APIError {
	return &APIError{Code: ErrInvalidPart, Message: msg, Extra: map[string]string{
		"PartNumber": fmt.Sprint(p.PartNumber), "ETag": p.ETag}}
}

// completeMultipartUpload handles POST /bucket/key?uploadId=ID. Everything
// that can be checked against the recorded parts is checked before the
// backend is asked to assemble the object; then the backend completes its
// native upload (nothing is re-streamed through strata) and the object
// record replaces the upload in one command. A complete that takes longer
// than keepAliveAfter is answered with a 200 and keep-alive spaces, and
// its outcome (result or error document) follows in the body.
func (g *Gateway) completeMultipartUpload(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:PutObject"); err != nil {
		return nil, err
	}
	// A conditional complete (If-None-Match: *) must not overwrite
	// silently.
	if err := checkWriteHeaders(req.Header); err != nil {
		return nil, err
	}
	listed, err := parseCompleteRequest(req.Body)
	if err != nil {
		return nil, err
	}
	u, err := g.uploadOf(ctx, req)
	if err != nil {
		if resp, ok := g.alreadyCompleted(req, listed, err); ok {
			return resp, nil
		}
		return nil, err
	}
	recorded, _, err := g.state.Parts(u.ID, 0, 0)
	if err != nil {
		return nil, uploadApplyErr(u.ID, err)
	}
	plan, err := planComplete(listed, recorded)
	if err != nil {
		return nil, err
	}
	be, err := g.backend(ctx, u.Backing.BackendID)
	if err != nil {
		return nil, err
	}
	// Once the backend starts assembling, the work is finished even if
	// the client goes away: a half-done complete (backend object
	// assembled, record still an upload) is worse than an unread answer.
	// Counted separately from the request, so a shutdown waits for it
	// even after the client (and with it the request) went away.
	done := make(chan completeOutcome, 1)
	g.work.add()
	go func() {
		defer g.work.done()
		done <- g.finishUpload(context.WithoutCancel(ctx), req, be, u, plan)
	}()
	wait := time.NewTimer(keepAliveAfter)
	defer wait.Stop()
	select {
	case out := <-done:
		return out.resp, out.err
	case <-wait.C:
	}
	resp := &response{Status: http.StatusOK, Header: http.Header{}, ContentLength: -1}
	resp.Header.Set("Content-Type", "application/xml")
	resp.Body = newKeepAliveBody(done, keepAliveInterval, func(out completeOutcome) []byte {
		return g.outcomeDocument(req, out)
	})
	return resp, nil
}

// alreadyCompleted answers a retried Complete whose first attempt
// succeeded (its answer lost, or the client timed out during a slow
// assembly): when the upload is gone and the object at its key has exactly
// the ETag the listed parts produce, the retry gets the same result
// instead of NoSuchUpload, as S3 gives it.
func (g *Gateway) alreadyCompleted(req *request, listed []completePart, lookupErr error) (*response, bool) {
	var ae *APIError
	if !errors.As(lookupErr, &ae) || ae.Code != ErrNoSuchUpload {
		return nil, false
	}
	etags := make([]string, len(listed))
	for i, p := range listed {
		etags[i] = normalizeETag(p.ETag)
	}
	etag, err := multipartETag(etags)
	if err != nil {
		return nil, false
	}
	o, ok, err := g.state.Object(req.Bucket, req.Key)
	if err != nil || !ok || o.ETag != etag {
		return nil, false
	}
	return xmlResponse(completeMultipartUploadResult{
		Location: objectLocation(req), Bucket: req.Bucket, Key: req.Key, ETag: quoteETag(etag),
	}), true
}

// completeOutcome is the result of finishing an upload.
type completeOutcome struct {
	resp *response
	err  error
}

// finishUpload completes the native upload and commits the object record,
// under the same per-key lock as PutObject so the two cannot interleave.
func (g *Gateway) finishUpload(ctx context.Context, req *request, be backend.Backend, u fsm.Upload, plan completePlan) completeOutcome {
	unlock := g.locks.lock(u.Bucket, u.Key)
	defer unlock()
	// An abort or another complete may have won while we waited.
	if _, ok, err := g.state.Upload(u.ID); err != nil {
		return completeOutcome{err: fmt.Errorf("read upload %s: %w", u.ID, err)}
	} else if !ok {
		return completeOutcome{err: noSuchUpload(u.ID)}
	}
	info, err := be.CompleteMultipart(ctx, u.Backing.Name, u.BackingKey, u.BackendUploadID, plan.backendParts)
	if err != nil {
		if errors.Is(err, backend.ErrInvalidPart) {
			// A part was re-uploaded on the backend after we read its
			// record: the client's list no longer matches.
			return completeOutcome{err: &APIError{Code: ErrInvalidPart, Cause: err}}
		}
		return completeOutcome{err: backendUploadErr(u.ID, "complete", err)}
	}
	obj := fsm.Object{
		Bucket:    u.Bucket,
		Key:       u.Key,
		Size:      plan.total,
		ETag:      plan.etag,
		Meta:      u.Meta,
		Owner:     u.Owner,
		ModTime:   g.cfg.Now().UTC(),
		Replicas:  []fsm.Replica{{BackendID: u.Backing.BackendID, Bucket: u.Backing.Name, Key: u.BackingKey, ETag: info.ETag}},
		PartSizes: plan.sizes,
	}
	res, err := g.apply(ctx, fsm.CmdCompleteUpload, fsm.CompleteUpload{UploadID: u.ID, Object: obj})
	if err != nil {
		if isDeterministic(err) {
			// The upload vanished (aborted) while the backend assembled
			// it: nothing refers to the assembled object unless a record
			// already sits at that key.
			if _, ok, rErr := g.state.Object(u.Bucket, u.Key); rErr == nil && !ok {
				g.discardBacking(ctx, be, u.Backing.Name, u.BackingKey)
			}
		}
		return completeOutcome{err: uploadApplyErr(u.ID, err)}
	}
	if res.Previous != nil {
		g.deleteUnreferenced(ctx, *res.Previous, obj.Replicas)
	}
	return completeOutcome{resp: xmlResponse(completeMultipartUploadResult{
		Location: objectLocation(req),
		Bucket:   u.Bucket,
		Key:      u.Key,
		ETag:     quoteETag(plan.etag),
	})}
}

// objectLocation is the URL of the completed object as the client
// addressed the gateway.
func objectLocation(req *request) string {
	scheme := "http"
	if req.HTTP.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: req.HTTP.Host, Path: req.HTTP.URL.Path}
	return u.String()
}

// outcomeDocument is the body sent after the keep-alive spaces: the result
// document, or the S3 error document (the status line already said 200;
// S3 clients look for <Error> in the body of this operation).
func (g *Gateway) outcomeDocument(req *request, out completeOutcome) []byte {
	if out.err == nil && out.resp != nil && out.resp.XML != nil {
		body, err := marshalXML(out.resp.XML)
		if err == nil {
			return body
		}
		out.err = fmt.Errorf("encode complete result: %w", err)
	}
	if out.err == nil {
		out.err = errors.New("complete produced no result")
	}
	ae := g.toAPIError(req, out.err)
	doc := errorDocument(req, ae)
	body, err := marshalXML(doc)
	if err != nil {
		return []byte(xml.Header + "<Error><Code>InternalError</Code></Error>")
	}
	return body
}
