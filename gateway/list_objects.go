package gateway

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/stratagw/strata/fsm"
)

// listing is what v1 and v2 share: parsed arguments and one page.
type listing struct {
	prefix, delimiter string
	maxKeys           int
	urlEncode         bool
	res               fsm.ListResult
}

// listEntry is one Contents element.
type listEntry struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	Owner        *owner `xml:"Owner,omitempty"`
	StorageClass string `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// listBucketResult is the ListObjects (v1) response.
type listBucketResult struct {
	XMLName        xml.Name       `xml:"ListBucketResult"`
	Xmlns          string         `xml:"xmlns,attr"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	Contents       []listEntry    `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

// listBucketResultV2 is the ListObjectsV2 response.
type listBucketResultV2 struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Xmlns                 string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              int            `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	Contents              []listEntry    `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

// listObjectsV1 is GET /bucket.
func (g *Gateway) listObjectsV1(ctx context.Context, req *request) (*response, error) {
	marker := req.Query.Get("marker")
	l, err := g.list(ctx, req, marker)
	if err != nil {
		return nil, err
	}
	out := listBucketResult{
		Xmlns: s3Namespace, Name: req.Bucket, Prefix: l.enc(l.prefix), Marker: l.enc(marker),
		MaxKeys: l.maxKeys, Delimiter: l.enc(l.delimiter), IsTruncated: l.res.Truncated,
		Contents: l.entries(true), CommonPrefixes: l.prefixes(),
	}
	if l.urlEncode {
		out.EncodingType = "url"
	}
	// S3 sends NextMarker only with a delimiter; without one the client
	// continues from the last key.
	if l.res.Truncated && l.delimiter != "" {
		out.NextMarker = l.enc(l.res.NextAfter)
	}
	return xmlResponse(out), nil
}

// listObjectsV2 is GET /bucket?list-type=2.
func (g *Gateway) listObjectsV2(ctx context.Context, req *request) (*response, error) {
	if lt := req.Query.Get("list-type"); lt != "2" {
		return nil, apiErrf(ErrInvalidArgument, "Invalid list-type %q.", lt)
	}
	after := req.Query.Get("start-after")
	token, hasToken := req.Query["continuation-token"]
	if hasToken {
		key, err := decodeContinuationToken(token[0])
		if err != nil {
			return nil, err
		}
		after = key
	}
	l, err := g.list(ctx, req, after)
	if err != nil {
		return nil, err
	}
	fetchOwner := req.Query.Get("fetch-owner") == "true"
	out := listBucketResultV2{
		Xmlns: s3Namespace, Name: req.Bucket, Prefix: l.enc(l.prefix), StartAfter: l.enc(req.Query.Get("start-after")),
		MaxKeys: l.maxKeys, Delimiter: l.enc(l.delimiter), IsTruncated: l.res.Truncated,
		Contents: l.entries(fetchOwner), CommonPrefixes: l.prefixes(),
		KeyCount: len(l.res.Objects) + len(l.res.CommonPrefixes),
	}
	if hasToken {
		out.ContinuationToken = token[0]
	}
	if l.urlEncode {
		out.EncodingType = "url"
	}
	if l.res.Truncated {
		out.NextContinuationToken = encodeContinuationToken(l.res.NextAfter)
	}
	return xmlResponse(out), nil
}

// list parses the shared arguments and reads one page from the FSM index
// (never from the backend).
func (g *Gateway) list(ctx context.Context, req *request, after string) (*listing, error) {
	if err := g.authorize(ctx, req, "s3:ListBucket"); err != nil {
		return nil, err
	}
	l := &listing{prefix: req.Query.Get("prefix"), delimiter: req.Query.Get("delimiter"), maxKeys: 1000}
	if v, ok := req.Query["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return nil, apiErrf(ErrInvalidArgument, "Provided max-keys not an integer or within integer range.")
		}
		l.maxKeys = min(n, 1000)
	}
	switch et := req.Query.Get("encoding-type"); et {
	case "":
	case "url":
		l.urlEncode = true
	default:
		return nil, apiErrf(ErrInvalidArgument, "Invalid Encoding Method specified in Request.")
	}
	if _, err := g.bucket(ctx, req.Bucket); err != nil {
		return nil, err
	}
	if l.maxKeys == 0 {
		return l, nil
	}
	res, err := g.state.ListObjects(req.Bucket, fsm.ListOptions{
		Prefix: l.prefix, Delimiter: l.delimiter, After: after, MaxKeys: l.maxKeys,
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", req.Bucket, err)
	}
	l.res = res
	return l, nil
}

// entries renders the page's objects.
func (l *listing) entries(withOwner bool) []listEntry {
	out := make([]listEntry, 0, len(l.res.Objects))
	for _, o := range l.res.Objects {
		e := listEntry{
			Key: l.enc(o.Key), LastModified: s3Time(o.ModTime), ETag: quoteETag(o.ETag),
			Size: o.Size, StorageClass: "STANDARD",
		}
		if withOwner {
			ow := ownerOf(o.Owner)
			e.Owner = &ow
		}
		out = append(out, e)
	}
	return out
}

// prefixes renders the page's common prefixes.
func (l *listing) prefixes() []commonPrefix {
	out := make([]commonPrefix, 0, len(l.res.CommonPrefixes))
	for _, p := range l.res.CommonPrefixes {
		out = append(out, commonPrefix{Prefix: l.enc(p)})
	}
	return out
}

// enc applies encoding-type=url when requested.
func (l *listing) enc(s string) string {
	if !l.urlEncode {
		return s
	}
	return s3URLEncode(s)
}

// s3URLEncode percent-encodes every byte except unreserved characters and
// '/', as S3 does for encoding-type=url (space is %20, '+' is %2B).
func s3URLEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// encodeContinuationToken makes the opaque v2 token for a resume key.
func encodeContinuationToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(after))
}

// decodeContinuationToken reverses encodeContinuationToken.
func decodeContinuationToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || tok == "" {
		return "", apiErrf(ErrInvalidArgument, "The continuation token provided is incorrect.")
	}
	return string(b), nil
}
