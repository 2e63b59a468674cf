package gateway

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// listAllMyBucketsResult is the ListBuckets response.
type listAllMyBucketsResult struct {
	XMLName           xml.Name      `xml:"ListAllMyBucketsResult"`
	Xmlns             string        `xml:"xmlns,attr"`
	Owner             owner         `xml:"Owner"`
	Buckets           []bucketEntry `xml:"Buckets>Bucket"`
	ContinuationToken string        `xml:"ContinuationToken,omitempty"`
	Prefix            string        `xml:"Prefix,omitempty"`
}

type bucketEntry struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

// maxListBuckets is S3's upper bound of max-buckets.
const maxListBuckets = 10000

// listBuckets is GET /: every bucket, sorted by name, optionally filtered
// by prefix and bucket-region and paginated with max-buckets and
// continuation-token (the admin credential sees all buckets; per-user
// filtering comes with IAM).
func (g *Gateway) listBuckets(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:ListAllMyBuckets"); err != nil {
		return nil, err
	}
	limit := maxListBuckets
	if v, ok := req.Query["max-buckets"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxListBuckets {
			return nil, apiErrf(ErrInvalidArgument, "max-buckets must be an integer between 1 and %d.", maxListBuckets)
		}
		limit = n
	}
	after := ""
	if v, ok := req.Query["continuation-token"]; ok {
		name, err := decodeContinuationToken(v[0])
		if err != nil {
			return nil, err
		}
		after = name
	}
	prefix, region := req.Query.Get("prefix"), req.Query.Get("bucket-region")
	if err := g.barrier(ctx); err != nil {
		return nil, err
	}
	buckets, err := g.state.Buckets()
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	out := listAllMyBucketsResult{Xmlns: s3Namespace, Owner: ownerOf(req.Identity.AccessKey), Prefix: prefix}
	out.Buckets = make([]bucketEntry, 0, min(len(buckets), limit))
	for _, b := range buckets {
		if b.Name <= after || !strings.HasPrefix(b.Name, prefix) || (region != "" && b.Region != region) {
			continue
		}
		if len(out.Buckets) == limit {
			out.ContinuationToken = encodeContinuationToken(out.Buckets[limit-1].Name)
			break
		}
		out.Buckets = append(out.Buckets, bucketEntry{Name: b.Name, CreationDate: s3Time(b.CreatedAt), BucketRegion: b.Region})
	}
	return xmlResponse(out), nil
}

// ownerOf is the Owner element of an access key's user. Until IAM exists
// the access key is both the canonical id and the display name.
func ownerOf(accessKey string) owner { return owner{ID: accessKey, DisplayName: accessKey} }

// headBucket is HEAD /bucket.
func (g *Gateway) headBucket(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:ListBucket"); err != nil {
		return nil, err
	}
	if err := checkBucketName(req.Bucket); err != nil {
		return nil, err
	}
	b, err := g.bucket(ctx, req.Bucket)
	if err != nil {
		return nil, err
	}
	resp := emptyResponse(http.StatusOK)
	resp.Header.Set("X-Amz-Bucket-Region", b.Region)
	return resp, nil
}

// locationConstraint is the GetBucketLocation response.
type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	Xmlns   string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

// getBucketLocation is GET /bucket?location: the virtual region name.
func (g *Gateway) getBucketLocation(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:GetBucketLocation"); err != nil {
		return nil, err
	}
	b, err := g.bucket(ctx, req.Bucket)
	if err != nil {
		return nil, err
	}
	return xmlResponse(locationConstraint{Xmlns: s3Namespace, Region: b.Region}), nil
}

// versioningConfiguration is the GetBucketVersioning response; strata
// buckets are never versioned yet, which S3 expresses as an empty document.
type versioningConfiguration struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	Xmlns   string   `xml:"xmlns,attr"`
}

// getBucketVersioning is GET /bucket?versioning.
func (g *Gateway) getBucketVersioning(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:GetBucketVersioning"); err != nil {
		return nil, err
	}
	if _, err := g.bucket(ctx, req.Bucket); err != nil {
		return nil, err
	}
	return xmlResponse(versioningConfiguration{Xmlns: s3Namespace}), nil
}

// accessControlPolicy is the GetBucketAcl / GetObjectAcl response.
type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type grantee struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// ownerFullControl is the only ACL strata has: the owner may do anything.
func ownerFullControl(ownerKey string) accessControlPolicy {
	o := ownerOf(ownerKey)
	return accessControlPolicy{
		Xmlns: s3Namespace,
		Owner: o,
		Grants: []grant{{
			Grantee:    grantee{XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName},
			Permission: "FULL_CONTROL",
		}},
	}
}

// getBucketACL is GET /bucket?acl.
func (g *Gateway) getBucketACL(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:GetBucketAcl"); err != nil {
		return nil, err
	}
	b, err := g.bucket(ctx, req.Bucket)
	if err != nil {
		return nil, err
	}
	return xmlResponse(ownerFullControl(b.Owner)), nil
}

// getObjectACL is GET /bucket/key?acl.
func (g *Gateway) getObjectACL(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:GetObjectAcl"); err != nil {
		return nil, err
	}
	o, err := g.object(ctx, req.Bucket, req.Key)
	if err != nil {
		return nil, err
	}
	return xmlResponse(ownerFullControl(o.Owner)), nil
}
