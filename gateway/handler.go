package gateway

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// handlerFunc is the signature of every S3 operation handler (bucket,
// object, listing and the multipart handlers in multipart*.go). A handler
// never touches the http.ResponseWriter: it returns a response value (or an
// error) and the renderer in render.go writes it, so that status, request
// ids, XML encoding and S3 error bodies are produced in exactly one place.
type handlerFunc func(ctx context.Context, req *request) (*response, error)

// request is one parsed, authenticated S3 request as handlers see it.
type request struct {
	// HTTP is the original request. Its Body has been replaced by Body.
	HTTP *http.Request
	// ID is the request id sent back as x-amz-request-id.
	ID string
	// Bucket and Key are the virtual bucket and object key, from the path
	// (path-style) or the Host header (virtual-hosted-style). Key is
	// already URL-decoded.
	Bucket string
	Key    string
	// Query is the parsed query string.
	Query url.Values
	// Header is the request header (same map as HTTP.Header).
	Header http.Header
	// Identity is the authenticated caller.
	Identity Identity
	// Body is the verified payload: reading it yields the decoded bytes
	// (aws-chunked framing removed) and it returns the SigV4 error instead
	// of io.EOF when the payload does not match its signature or hash.
	Body io.ReadCloser
	// ContentLength is the decoded payload length, -1 when unknown.
	ContentLength int64
}

// response is what a handler returns. Exactly one of XML and Body is used;
// neither means an empty body.
type response struct {
	// Status defaults to 200.
	Status int
	// Header is merged into the response headers.
	Header http.Header
	// XML is encoded as the body (with the XML declaration) when not nil.
	XML any
	// Body is streamed to the client and closed by the renderer.
	Body io.ReadCloser
	// ContentLength of Body, or -1 when unknown (chunked transfer).
	ContentLength int64
}

// xmlResponse is a 200 response carrying an XML document.
func xmlResponse(v any) *response {
	return &response{Status: http.StatusOK, Header: http.Header{}, XML: v}
}

// emptyResponse is a response with a status and no body.
func emptyResponse(status int) *response {
	return &response{Status: status, Header: http.Header{}}
}
