package gateway

import (
	"net/http"
)

// level is which kind of resource a request addresses.
type level int

const (
	levelService level = iota // no bucket: ListBuckets
	levelBucket               // bucket, no key
	levelObject               // bucket and key
)

// route maps (method, level, required query args, required headers) to a
// handler. Routes are tried in table order; the first match wins, so more
// specific routes (more query args) come first.
type route struct {
	method  string
	level   level
	queries []string
	headers []string
	h       handlerFunc
}

// matches reports whether req satisfies the route's matchers.
func (rt *route) matches(method string, lvl level, req *request) bool {
	if rt.method != method || rt.level != lvl {
		return false
	}
	for _, q := range rt.queries {
		if _, ok := req.Query[q]; !ok {
			return false
		}
	}
	for _, h := range rt.headers {
		if req.Header.Get(h) == "" {
			return false
		}
	}
	return true
}

// routeTable lists every implemented operation. Multipart handlers live in
// multipart*.go.
func (g *Gateway) routeTable() []route {
	return []route{
		{method: http.MethodGet, level: levelService, h: g.listBuckets},

		// bucket
		{method: http.MethodGet, level: levelBucket, queries: []string{"uploads"}, h: g.listMultipartUploads},
		{method: http.MethodGet, level: levelBucket, queries: []string{"location"}, h: g.getBucketLocation},
		{method: http.MethodGet, level: levelBucket, queries: []string{"versioning"}, h: g.getBucketVersioning},
		{method: http.MethodGet, level: levelBucket, queries: []string{"acl"}, h: g.getBucketACL},
		{method: http.MethodGet, level: levelBucket, queries: []string{"list-type"}, h: g.listObjectsV2},
		{method: http.MethodHead, level: levelBucket, h: g.headBucket},
		{method: http.MethodPut, level: levelBucket, h: g.createBucket, queries: nil},
		{method: http.MethodDelete, level: levelBucket, h: g.deleteBucket},
		{method: http.MethodPost, level: levelBucket, queries: []string{"delete"}, h: g.deleteObjects},

		// object: multipart
		{method: http.MethodPost, level: levelObject, queries: []string{"uploads"}, h: g.createMultipartUpload},
		{method: http.MethodPut, level: levelObject, queries: []string{"partNumber", "uploadId"}, headers: []string{"X-Amz-Copy-Source"}, h: g.uploadPartCopy},
		{method: http.MethodPut, level: levelObject, queries: []string{"partNumber", "uploadId"}, h: g.uploadPart},
		{method: http.MethodPost, level: levelObject, queries: []string{"uploadId"}, h: g.completeMultipartUpload},
		{method: http.MethodDelete, level: levelObject, queries: []string{"uploadId"}, h: g.abortMultipartUpload},
		{method: http.MethodGet, level: levelObject, queries: []string{"uploadId"}, h: g.listParts},

		// object
		{method: http.MethodGet, level: levelObject, queries: []string{"acl"}, h: g.getObjectACL},
		{method: http.MethodPut, level: levelObject, headers: []string{"X-Amz-Copy-Source"}, h: g.copyObject},
		{method: http.MethodPut, level: levelObject, h: g.putObject},
		{method: http.MethodGet, level: levelObject, h: g.getObject},
		{method: http.MethodHead, level: levelObject, h: g.headObject},
		{method: http.MethodDelete, level: levelObject, h: g.deleteObject},
	}
}

// unimplementedSubresources are S3 sub-resources strata does not serve
// (beyond the read answers routed above). A request naming one gets 501
// NotImplemented rather than being mistaken for a plain object or bucket
// operation (a PUT ?tagging must not overwrite the object).
var unimplementedSubresources = []string{
	"accelerate", "acl", "analytics", "attributes", "cors", "encryption",
	"intelligent-tiering", "inventory", "legal-hold", "lifecycle", "logging",
	"metadata-table", "metrics", "notification", "object-lock", "ownershipControls",
	"policy", "policyStatus", "publicAccessBlock", "renameObject", "replication",
	"requestPayment", "restore", "retention", "select", "session", "tagging",
	"torrent", "versionId", "versioning", "versions", "website",
}

// knownMethods are the HTTP methods of the S3 API.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPut: true,
	http.MethodPost: true, http.MethodDelete: true,
}

// match finds the handler for req, or returns NotImplemented for a known
// but unsupported sub-resource and MethodNotAllowed for anything else.
func (g *Gateway) match(req *request) (handlerFunc, error) {
	method := req.HTTP.Method
	if !knownMethods[method] {
		return nil, apiErr(ErrMethodNotAllowed)
	}
	lvl := levelService
	switch {
	case req.Key != "":
		lvl = levelObject
	case req.Bucket != "":
		lvl = levelBucket
	}
	for _, q := range unimplementedSubresources {
		if _, ok := req.Query[q]; ok && !routedRead(method, lvl, q) && !nullVersion(req, lvl, q) {
			return nil, apiErrf(ErrNotImplemented, "The %q sub-resource is not implemented for %s.", q, method)
		}
	}
	for i := range g.routes {
		if g.routes[i].matches(method, lvl, req) {
			return g.routes[i].h, nil
		}
	}
	switch {
	case lvl == levelBucket && method == http.MethodGet:
		return g.listObjectsV1, nil
	case method == http.MethodPost && lvl != levelService:
		// POST object (browser form upload) and restore/select.
		return nil, apiErrf(ErrNotImplemented, "POST %s is not implemented.", levelName(lvl))
	}
	return nil, apiErr(ErrMethodNotAllowed)
}

// routedRead reports whether a sub-resource query on this method and level
// is one of the minimal reads strata answers.
func routedRead(method string, lvl level, q string) bool {
	if method != http.MethodGet {
		return false
	}
	switch q {
	case "acl":
		return lvl != levelService
	case "versioning":
		return lvl == levelBucket
	}
	return false
}

// nullVersion reports whether q is a versionId naming the "null" version
// of an object: strata never versions, so that is the object itself, as
// on an unversioned S3 bucket.
func nullVersion(req *request, lvl level, q string) bool {
	return q == "versionId" && lvl == levelObject && req.Query.Get(q) == "null"
}

func levelName(l level) string {
	switch l {
	case levelBucket:
		return "bucket"
	case levelObject:
		return "object"
	}
	return "service"
}
