package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// errorXML is the S3 error document.
type errorXML struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
	Extra     []extraElem
}

// extraElem is an additional element of an error document (BucketName,
// Key, ...).
type extraElem struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// render writes resp or err to w and returns the status sent. It is the
// only place that writes S3 responses.
func (g *Gateway) render(w http.ResponseWriter, req *request, resp *response, err error) int {
	h := w.Header()
	h.Set("X-Amz-Request-Id", req.ID)
	h.Set("X-Amz-Id-2", hostID(req.ID))
	h.Set("Server", "strata")
	if err != nil {
		return g.renderError(w, req, err)
	}
	if resp == nil {
		resp = emptyResponse(http.StatusOK)
	}
	for k, vs := range resp.Header {
		h[k] = vs
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case resp.XML != nil:
		body, mErr := marshalXML(resp.XML)
		if mErr != nil {
			return g.renderError(w, req, &APIError{Code: ErrInternalError, Cause: mErr})
		}
		h.Set("Content-Type", "application/xml")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		if req.HTTP.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	case resp.Body != nil:
		defer resp.Body.Close()
		if resp.ContentLength >= 0 {
			h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		}
		w.WriteHeader(status)
		if req.HTTP.Method == http.MethodHead {
			break
		}
		n, cErr := g.copyBody(w, resp.Body)
		if cErr != nil {
			// The status line is gone; returning with fewer bytes than
			// the declared Content-Length makes net/http close the
			// connection, so the client sees a truncated body instead of
			// a short object.
			g.log.Warn("streaming response failed", "id", req.ID, "bucket", req.Bucket,
				"key", req.Key, "sent", n, "err", cErr)
		}
	default:
		if h.Get("Content-Length") == "" && status != http.StatusNoContent && status != http.StatusNotModified {
			h.Set("Content-Length", "0")
		}
		w.WriteHeader(status)
	}
	return status
}

// renderError writes an S3 error document (no body for HEAD and 304).
func (g *Gateway) renderError(w http.ResponseWriter, req *request, err error) int {
	ae := g.toAPIError(req, err)
	status := ae.HTTPStatus()
	h := w.Header()
	if ae.Code == ErrNotModified {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	doc := errorDocument(req, ae)
	body, mErr := marshalXML(doc)
	if mErr != nil {
		body = nil
	}
	h.Del("Content-Range")
	h.Del("ETag")
	h.Del("Last-Modified")
	if size, ok := ae.Extra["ActualObjectSize"]; ok && ae.Code == ErrInvalidRange {
		// RFC 9110: a 416 names the current length of the representation.
		h.Set("Content-Range", "bytes */"+size)
	}
	h.Set("Content-Type", "application/xml")
	if req.HTTP.Method == http.MethodHead {
		h.Del("Content-Length")
		w.WriteHeader(status)
		return status
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}

// toAPIError finds the S3 error for err. Precedence: an explicit APIError,
// then a SigV4 payload error anywhere in the chain (it may surface through
// a backend's error while the backend was reading the body), then FSM and
// backend errors; anything else is an InternalError and is logged.
func (g *Gateway) toAPIError(req *request, err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Code == ErrInternalError || ae.Code == ErrServiceUnavailable {
			g.log.Error("request failed", "id", req.ID, "bucket", req.Bucket, "key", req.Key, "code", ae.Code, "err", err)
		}
		return ae
	}
	if se, ok := sigv4APIError(err); ok {
		if se.Code == ErrInternalError {
			g.log.Error("unknown signature error code", "id", req.ID, "err", err)
		}
		return se
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		return fsmAPIError(fe)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &APIError{Code: ErrRequestTimeout, Message: "The request was canceled.", Cause: err}
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		g.log.Warn("backend unavailable", "id", req.ID, "bucket", req.Bucket, "key", req.Key, "err", err)
		return &APIError{Code: ErrServiceUnavailable, Cause: err}
	case errors.Is(err, backend.ErrInvalidKey):
		return &APIError{Code: ErrInvalidObjectName, Message: "The object key cannot be stored on this bucket's backend.", Cause: err}
	}
	g.log.Error("internal error", "id", req.ID, "method", req.HTTP.Method, "bucket", req.Bucket, "key", req.Key, "err", err)
	return &APIError{Code: ErrInternalError, Cause: err}
}

// fsmAPIError maps a deterministic command failure to its S3 error.
func fsmAPIError(fe *fsm.Error) *APIError {
	switch fe.Code {
	case fsm.CodeNoSuchBucket:
		return &APIError{Code: ErrNoSuchBucket, Cause: fe}
	case fsm.CodeNoSuchKey:
		return &APIError{Code: ErrNoSuchKey, Cause: fe}
	case fsm.CodeNoSuchUpload:
		return &APIError{Code: ErrNoSuchUpload, Cause: fe}
	case fsm.CodeBucketNotEmpty:
		return &APIError{Code: ErrBucketNotEmpty, Cause: fe}
	case fsm.CodeBucketExists:
		return &APIError{Code: ErrBucketAlreadyExists, Cause: fe}
	case fsm.CodeNoSuchRegion:
		return &APIError{Code: ErrInvalidLocationConstraint, Cause: fe}
	case fsm.CodeInvalid:
		return &APIError{Code: ErrInvalidArgument, Message: fe.Message, Cause: fe}
	}
	return &APIError{Code: ErrInternalError, Cause: fe}
}

// marshalXML encodes v with the XML declaration S3 sends.
func marshalXML(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// hostID derives the x-amz-id-2 value from the request id (S3 sends an
// opaque base64 token; strata has no separate host identity to hide).
func hostID(requestID string) string {
	return base64.StdEncoding.EncodeToString([]byte("strata/" + requestID))
}

// copyBufSize is the streaming copy buffer. Larger than io.Copy's 32 KiB so
// a GET moves object bytes with a quarter of the syscalls; this is most of
// the gap between strata and a direct backend read on small machines.
const copyBufSize = 256 << 10

// writerOnly hides http.ResponseWriter's ReadFrom, which would copy with
// its own 32 KiB buffer instead of ours.
type writerOnly struct{ io.Writer }

// copyBody streams src to w. A src that implements io.WriterTo (the
// multipart keep-alive body) drives the copy itself and gets w unwrapped:
// it flushes through the http.ResponseWriter after every piece.
func (g *Gateway) copyBody(w io.Writer, src io.Reader) (int64, error) {
	if wt, ok := src.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	bp, ok := g.copyBufs.Get().(*[]byte)
	if !ok {
		b := make([]byte, copyBufSize)
		bp = &b
	}
	defer g.copyBufs.Put(bp)
	return io.CopyBuffer(writerOnly{w}, src, *bp)
}

// errorDocument is the S3 error XML for ae answering req.
func errorDocument(req *request, ae *APIError) errorXML {
	doc := errorXML{
		Code:      string(ae.Code),
		Message:   ae.message(),
		Resource:  req.HTTP.URL.Path,
		RequestID: req.ID,
		HostID:    hostID(req.ID),
	}
	for _, k := range sortedKeys(ae.Extra) {
		doc.Extra = append(doc.Extra, extraElem{XMLName: xml.Name{Local: k}, Value: ae.Extra[k]})
	}
	return doc
}
