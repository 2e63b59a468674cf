package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
)

// address splits a request into virtual bucket and key. Virtual-hosted
// style applies when the Host (without port) is "<bucket>.<domain>" for a
// configured domain; IP addresses, "localhost" and any other host are
// path-style ("/<bucket>/<key>"). The key keeps every byte after the
// bucket's slash (S3 keys may contain "//" or end in "/").
func (g *Gateway) address(r *http.Request) (bucket, key string) {
	path := r.URL.Path
	if b, ok := g.hostBucket(r.Host); ok {
		return b, strings.TrimPrefix(path, "/")
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// hostBucket returns the bucket named by a virtual-hosted-style Host.
func (g *Gateway) hostBucket(host string) (string, bool) {
	if len(g.cfg.Domains) == 0 || host == "" {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || net.ParseIP(strings.Trim(host, "[]")) != nil {
		return "", false
	}
	for _, d := range g.cfg.Domains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, true
		}
	}
	return "", false
}

// newRequestID returns a random request id in S3's style (16 upper-case
// hex characters).
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
