package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// maxUserMetaSize is S3's limit on user-defined metadata: the sum of the
// UTF-8 bytes of every x-amz-meta-* name (without the prefix) and value.
const maxUserMetaSize = 2 << 10

// userMetaPrefix is the header prefix of user-defined metadata.
const userMetaPrefix = "X-Amz-Meta-"

// defaultContentType is what S3 stores when a PUT has no Content-Type.
const defaultContentType = "binary/octet-stream"

// metaFromHeaders reads the stored content headers and x-amz-meta-*
// entries of a PUT, CopyObject (REPLACE) or CreateMultipartUpload.
func metaFromHeaders(h http.Header) (fsm.ObjectMeta, error) {
	m := fsm.ObjectMeta{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    stripAWSChunked(h.Get("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	if m.ContentType == "" {
		m.ContentType = defaultContentType
	}
	size := 0
	for name, vs := range h {
		k, ok := strings.CutPrefix(http.CanonicalHeaderKey(name), userMetaPrefix)
		if !ok || k == "" {
			continue
		}
		k = strings.ToLower(k)
		v := strings.Join(vs, ",")
		if m.UserMeta == nil {
			m.UserMeta = map[string]string{}
		}
		m.UserMeta[k] = v
		size += len(k) + len(v)
	}
	if size > maxUserMetaSize {
		return fsm.ObjectMeta{}, &APIError{Code: ErrMetadataTooLarge, Extra: map[string]string{
			"Size": strconv.Itoa(size), "MaxSizeAllowed": strconv.Itoa(maxUserMetaSize)}}
	}
	return m, nil
}

// stripAWSChunked removes the "aws-chunked" coding, which describes the
// transfer framing of a streaming-signed upload, not the object.
func stripAWSChunked(v string) string {
	if v == "" {
		return ""
	}
	parts := strings.Split(v, ",")
	kept := parts[:0]
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p != "" && !strings.EqualFold(p, "aws-chunked") {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ",")
}

// backendMeta is the native metadata written with a backing object.
func backendMeta(m fsm.ObjectMeta) backend.Meta {
	return backend.Meta{
		ContentType:        m.ContentType,
		ContentEncoding:    m.ContentEncoding,
		ContentDisposition: m.ContentDisposition,
		ContentLanguage:    m.ContentLanguage,
		CacheControl:       m.CacheControl,
		Expires:            m.Expires,
		User:               m.UserMeta,
	}
}

// objectMeta is the client-visible metadata of a backing object's native
// metadata (the inverse of backendMeta). A missing content type becomes
// the default a PUT without one stores.
func objectMeta(m backend.Meta) fsm.ObjectMeta {
	om := fsm.ObjectMeta{
		ContentType:        m.ContentType,
		ContentEncoding:    m.ContentEncoding,
		ContentDisposition: m.ContentDisposition,
		ContentLanguage:    m.ContentLanguage,
		CacheControl:       m.CacheControl,
		Expires:            m.Expires,
		UserMeta:           m.User,
	}
	if om.ContentType == "" {
		om.ContentType = defaultContentType
	}
	if len(om.UserMeta) == 0 {
		om.UserMeta = nil
	}
	return om
}

// setMetaHeaders writes an object's stored metadata as response headers.
func setMetaHeaders(h http.Header, m fsm.ObjectMeta) {
	set := func(name, v string) {
		if v != "" {
			h.Set(name, v)
		}
	}
	set("Content-Type", m.ContentType)
	set("Content-Encoding", m.ContentEncoding)
	set("Content-Disposition", m.ContentDisposition)
	set("Content-Language", m.ContentLanguage)
	set("Cache-Control", m.CacheControl)
	set("Expires", m.Expires)
	for _, k := range sortedKeys(m.UserMeta) {
		// Set the raw (lower-case) name: S3 returns the names as stored.
		h["X-Amz-Meta-"+k] = []string{m.UserMeta[k]}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
