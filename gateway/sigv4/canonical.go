package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// queryParam is one decoded query parameter, in request order.
type queryParam struct {
	key, value string
}

// maxQueryParams bounds the work a hostile query string can ask for.
const maxQueryParams = 1024

// parseQuery decodes a raw query string. Unlike url.ParseQuery it keeps
// ';' literal and reports every malformed escape, so the canonical query is
// built from exactly what the client sent.
func parseQuery(raw string) ([]queryParam, error) {
	if raw == "" {
		return nil, nil
	}
	parts := strings.Split(raw, "&")
	if len(parts) > maxQueryParams {
		return nil, newErr(CodeInvalidArgument, "the query string has too many parameters")
	}
	out := make([]queryParam, 0, len(parts))
	for _, part := range parts {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, newErr(CodeInvalidArgument, "the query string contains an invalid escape sequence")
		}
		out = append(out, queryParam{key: dk, value: dv})
	}
	return out, nil
}

// canonicalQuery encodes every parameter per SigV4 (RFC 3986 unreserved
// characters kept, everything else %XX), drops skip, and sorts the encoded
// pairs by name then value — sorting after encoding, as the spec says.
func canonicalQuery(params []queryParam, skip string) string {
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if skip != "" && p.key == skip {
			continue
		}
		enc = append(enc, queryParam{key: uriEncode(p.key, true), value: uriEncode(p.value, true)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].key != enc[j].key {
			return enc[i].key < enc[j].key
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// canonicalURI re-encodes the decoded request path the way S3 clients sign
// it: every byte but the unreserved ones and '/' as %XX, encoded once. Going
// through the decoded path makes clients that escape more or less on the wire
// than in their canonical request (e.g. '=' or '~') verify all the same.
func canonicalURI(r *http.Request) string {
	p := r.URL.Path
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

const upperHex = "0123456789ABCDEF"

// uriEncode percent-encodes s per SigV4; '/' is kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !keepByte(s[i], encodeSlash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keepByte(c, encodeSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return string(b)
}

func keepByte(c byte, encodeSlash bool) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	case c == '-', c == '_', c == '.', c == '~':
		return true
	case c == '/':
		return !encodeSlash
	}
	return false
}

// canonicalHeaders renders the signed headers "name:value\n" in the order
// the client listed them. Go's server moves Host, and Transfer-Encoding out
// of r.Header, so those are taken from the request fields.
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		if r.Host != "" {
			return collapseSpaces(r.Host)
		}
		return collapseSpaces(r.URL.Host)
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return strings.Join(r.TransferEncoding, ",")
		}
	case "content-length":
		if len(r.Header.Values("Content-Length")) == 0 && r.ContentLength > 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	}
	vals := r.Header.Values(name)
	clean := make([]string, len(vals))
	for i, v := range vals {
		clean[i] = collapseSpaces(v)
	}
	return strings.Join(clean, ",")
}

// collapseSpaces trims v and turns every run of spaces into one space.
func collapseSpaces(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	prevSpace := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' && prevSpace {
			continue
		}
		prevSpace = c == ' '
		b.WriteByte(c)
	}
	return b.String()
}

// canonicalRequest joins the six parts of the SigV4 canonical request.
func canonicalRequest(method, uri, query, headers string, signed []string, payloadHash string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" + strings.Join(signed, ";") + "\n" + payloadHash
}

// stringToSign builds the SigV4 string to sign for a canonical request.
func stringToSign(t time.Time, scope Scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + t.UTC().Format(amzDateFormat) + "\n" + scope.String() + "\n" + hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// deriveKey computes the SigV4 signing key for secret and scope.
func deriveKey(secret string, scope Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), scope.Date)
	k = hmacSHA256(k, scope.Region)
	k = hmacSHA256(k, scope.Service)
	return hmacSHA256(k, scopeTerminator)
}

// signatureEqual compares two hex signatures in constant time.
func signatureEqual(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}

// keyCache memoizes derived signing keys: deriving costs four HMACs and the
// same (secret, day, region, service) signs every request of a client all
// day. It is bounded; when full an arbitrary entry makes room.
type keyCache struct {
	mu  sync.Mutex
	max int
	m   map[keyCacheKey][]byte
}

type keyCacheKey struct {
	secret string
	scope  Scope
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, m: make(map[keyCacheKey][]byte)}
}

// get returns the signing key for secret and scope, deriving it if needed.
func (c *keyCache) get(secret string, scope Scope) []byte {
	k := keyCacheKey{secret: secret, scope: scope}
	c.mu.Lock()
	key, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = deriveKey(secret, scope)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = key
	return key
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
