package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// maxSmallXMLBody bounds XML bodies of configuration requests.
const maxSmallXMLBody = 64 << 10

// createBucketConfiguration is the optional CreateBucket request body.
type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// parseCreateBucketConfiguration decodes a CreateBucket body; an empty
// (or all white-space) body means no configuration.
func parseCreateBucketConfiguration(data []byte) (string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", nil
	}
	var cfg createBucketConfiguration
	if err := decodeXML(data, &cfg); err != nil {
		return "", err
	}
	return strings.TrimSpace(cfg.LocationConstraint), nil
}

// createBucket is PUT /bucket: it creates one backing bucket per backing
// region of the chosen virtual region, then commits the bucket record. If
// the commit fails, the backing buckets are removed again so nothing is
// left half-created.
func (g *Gateway) createBucket(ctx context.Context, req *request) (*response, error) {
	if err := g.authorize(ctx, req, "s3:CreateBucket"); err != nil {
		return nil, err
	}
	if err := checkBucketName(req.Bucket); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, maxSmallXMLBody+1))
	if err != nil {
		return nil, fmt.Errorf("read CreateBucket body: %w", err)
	}
	if len(data) > maxSmallXMLBody {
		return nil, apiErrf(ErrMalformedXML, "The CreateBucketConfiguration is larger than %d bytes.", maxSmallXMLBody)
	}
	constraint, err := parseCreateBucketConfiguration(data)
	if err != nil {
		return nil, err
	}
	if err := g.barrier(ctx); err != nil {
		return nil, err
	}
	if existing, ok, err := g.state.Bucket(req.Bucket); err != nil {
		return nil, fmt.Errorf("read bucket %q: %w", req.Bucket, err)
	} else if ok {
		return nil, bucketExists(req, existing.Owner)
	}
	region, err := g.resolveRegion(constraint)
	if err != nil {
		return nil, err
	}
	backings, err := g.createBackingBuckets(ctx, req.Bucket, region)
	if err != nil {
		return nil, err
	}
	rec := fsm.Bucket{
		Name:      req.Bucket,
		Region:    region.Name,
		Owner:     req.Identity.AccessKey,
		Backings:  backings,
		CreatedAt: g.cfg.Now().UTC(),
	}
	if _, err := g.apply(ctx, fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: rec}); err != nil {
		if isDeterministic(err) {
			g.removeBackingBuckets(ctx, backings)
		} else {
			g.log.Warn("CreateBucket commit outcome unknown; backing buckets kept", "bucket", req.Bucket, "err", err)
		}
		var fe *fsm.Error
		if errors.As(err, &fe) && fe.Code == fsm.CodeBucketExists {
			return nil, bucketExists(req, fe.Owner)
		}
		return nil, err
	}
	resp := emptyResponse(http.StatusOK)
	resp.Header.Set("Location", "/"+req.Bucket)
	return resp, nil
}

// bucketExists is BucketAlreadyOwnedByYou for the owner, else
// BucketAlreadyExists.
func bucketExists(req *request, owner string) *APIError {
	code := ErrBucketAlreadyExists
	if owner == req.Identity.AccessKey {
		code = ErrBucketAlreadyOwnedByYou
	}
	return &APIError{Code: code, Extra: map[string]string{"BucketName": req.Bucket}}
}

// resolveRegion picks the virtual region of a new bucket: the
// LocationConstraint, else the cluster default, else the only region.
func (g *Gateway) resolveRegion(constraint string) (fsm.Region, error) {
	name := constraint
	if name == "" {
		cfg, _, err := g.state.Config()
		if err != nil {
			return fsm.Region{}, fmt.Errorf("read cluster config: %w", err)
		}
		name = cfg.DefaultRegion
	}
	if name == "" {
		regions, err := g.state.Regions()
		if err != nil {
			return fsm.Region{}, fmt.Errorf("list regions: %w", err)
		}
		if len(regions) != 1 {
			return fsm.Region{}, apiErrf(ErrInvalidLocationConstraint,
				"No default region is configured and %d regions exist: specify a LocationConstraint.", len(regions))
		}
		return regions[0], nil
	}
	r, ok, err := g.state.Region(name)
	if err != nil {
		return fsm.Region{}, fmt.Errorf("read region %q: %w", name, err)
	}
	if !ok || len(r.Backings) == 0 {
		return fsm.Region{}, &APIError{Code: ErrInvalidLocationConstraint,
			Message: fmt.Sprintf("The region %q does not exist.", name), Extra: map[string]string{"LocationConstraint": name}}
	}
	return r, nil
}

// createBackingBuckets creates one backing bucket per backing region; on
// any failure the ones already created are removed.
func (g *Gateway) createBackingBuckets(ctx context.Context, name string, region fsm.Region) ([]fsm.BackingBucket, error) {
	var made []fsm.BackingBucket
	for _, br := range region.Backings {
		be, err := g.backend(ctx, br.BackendID)
		if err != nil {
			g.removeBackingBuckets(ctx, made)
			return nil, err
		}
		bb := fsm.BackingBucket{BackendID: br.BackendID, Region: br.Region, Name: backingBucketName(name)}
		if err := be.CreateBucket(ctx, br.Region, bb.Name); err != nil {
			g.removeBackingBuckets(ctx, made)
			if errors.Is(err, backend.ErrBucketExists) {
				// A random suffix collided or the backend refuses the
				// name: the client may simply retry.
				return nil, &APIError{Code: ErrServiceUnavailable, Message: "Could not allocate a backing bucket. Please retry.", Cause: err}
			}
			return nil, fmt.Errorf("create backing bucket %s: %w", bb.Name, err)
		}
		made = append(made, bb)
	}
	return made, nil
}

// removeBackingBuckets deletes backing buckets that no record references.
// Failures are logged: an empty orphan backing bucket is harmless.
func (g *Gateway) removeBackingBuckets(ctx context.Context, bbs []fsm.BackingBucket) {
	ctx = context.WithoutCancel(ctx)
	for _, bb := range bbs {
		be, err := g.backends.Get(ctx, bb.BackendID)
		if err == nil {
			err = be.DeleteBucket(ctx, bb.Name)
		}
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			g.log.Warn("orphan backing bucket left behind", "backend", bb.BackendID, "bucket", bb.Name, "err", err)
		}
	}
}

// backingIDLen is the length of the random suffix of backing bucket names.
const backingIDLen = 10

// lowerBase32 encodes random bytes with lower-case letters and 2-7.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// backingBucketName is "<virtual name>-<10 random chars>", the virtual
// name cut so that the result is at most 63 characters and still a legal
// bucket name (no trailing '.' or '-' before the separator).
func backingBucketName(virtual string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	id := lowerBase32.EncodeToString(b[:])[:backingIDLen]
	base := virtual
	if max := 63 - 1 - backingIDLen; len(base) > max {
		base = base[:max]
	}
	base = strings.TrimRight(base, ".-")
	return base + "-" + id
}
