package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/stratagw/strata/admin/api"
)

// Backends lists the backends.
func (c *Client) Backends(ctx context.Context) ([]api.Backend, error) {
	var out []api.Backend
	return out, c.do(ctx, http.MethodGet, "/v1/backends", nil, &out)
}

// AddBackend adds a backend; the node opens and checks it before anything
// is committed.
func (c *Client) AddBackend(ctx context.Context, req api.AddBackend) (api.Backend, error) {
	var out api.Backend
	return out, c.do(ctx, http.MethodPost, "/v1/backends", req, &out)
}

// RemoveBackend removes a backend that no bucket uses.
func (c *Client) RemoveBackend(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/backends/"+url.PathEscape(name), nil, nil)
}

// Regions lists the virtual regions.
func (c *Client) Regions(ctx context.Context) ([]api.Region, error) {
	var out []api.Region
	return out, c.do(ctx, http.MethodGet, "/v1/regions", nil, &out)
}

// RenameRegion renames a virtual region.
func (c *Client) RenameRegion(ctx context.Context, oldName, newName string) (api.Region, error) {
	var out api.Region
	return out, c.do(ctx, http.MethodPost, "/v1/regions/"+url.PathEscape(oldName)+"/rename", api.RenameRegion{New: newName}, &out)
}

// SetDefaultRegion sets the region CreateBucket uses without a
// LocationConstraint.
func (c *Client) SetDefaultRegion(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPut, "/v1/config/default-region", api.DefaultRegion{Region: name}, nil)
}

// Buckets lists the virtual buckets.
func (c *Client) Buckets(ctx context.Context) ([]api.Bucket, error) {
	var out []api.Bucket
	return out, c.do(ctx, http.MethodGet, "/v1/buckets", nil, &out)
}

// Cluster returns the node's view of the cluster.
func (c *Client) Cluster(ctx context.Context) (api.Cluster, error) {
	var out api.Cluster
	return out, c.do(ctx, http.MethodGet, "/v1/cluster", nil, &out)
}

// Ready returns nil when the node has a leader and has caught up.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/ready", nil, nil)
}

// Members lists the cluster's nodes as the node sees them.
func (c *Client) Members(ctx context.Context) ([]api.Member, error) {
	var out []api.Member
	return out, c.do(ctx, http.MethodGet, "/v1/cluster/members", nil, &out)
}

// Join asks the node to join the cluster of the members at addrs (gossip
// HOST:PORT) and returns its view of the cluster once it is a member.
func (c *Client) Join(ctx context.Context, addrs []string) (api.Cluster, error) {
	var out api.Cluster
	return out, c.do(ctx, http.MethodPost, "/v1/cluster/join", api.JoinRequest{Addrs: addrs}, &out)
}

// Leave asks the node to leave the cluster; it exits afterwards.
func (c *Client) Leave(ctx context.Context) (api.LeaveResult, error) {
	var out api.LeaveResult
	if err := c.do(ctx, http.MethodPost, "/v1/cluster/leave", struct{}{}, &out); err != nil {
		return out, err
	}
	if out.Status != "left" {
		return out, fmt.Errorf("the node answered the leave with status %q, not \"left\"", out.Status)
	}
	return out, nil
}

// Remove forces a node that is not alive out of the cluster.
func (c *Client) Remove(ctx context.Context, nodeID string) error {
	return c.do(ctx, http.MethodPost, "/v1/cluster/remove", api.RemoveRequest{NodeID: nodeID}, nil)
}

// Snapshot downloads a consistent copy of the node's state into w and
// checks it arrived whole (size and SHA-256). The download is not bounded
// by the client's usual timeout (a large state takes long); ctx is.
func (c *Client) Snapshot(ctx context.Context, w io.Writer) (api.Snapshot, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, "/v1/snapshot", nil)
	if err != nil {
		return api.Snapshot{}, err
	}
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return api.Snapshot{}, ctxErr
		}
		return api.Snapshot{}, &UnreachableError{URL: c.base.String(), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return api.Snapshot{}, decodeResponse(resp, nil)
	}
	info, err := snapshotHeaders(resp.Header)
	if err != nil {
		return api.Snapshot{}, err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), resp.Body)
	if err != nil {
		return api.Snapshot{}, fmt.Errorf("download snapshot: %w", err)
	}
	info.SHA256 = hex.EncodeToString(sum.Sum(nil))
	switch want := resp.Trailer.Get(api.TrailerSnapshotSHA256); {
	case n != info.Size:
		return api.Snapshot{}, fmt.Errorf("download snapshot: got %d bytes, the node announced %d", n, info.Size)
	case want == "":
		return api.Snapshot{}, errors.New("download snapshot: the node did not finish sending it (no checksum trailer)")
	case want != info.SHA256:
		return api.Snapshot{}, fmt.Errorf("download snapshot: SHA-256 %s, the node sent %s", info.SHA256, want)
	}
	return info, nil
}

// snapshotHeaders reads the description of a snapshot answer.
func snapshotHeaders(h http.Header) (api.Snapshot, error) {
	info := api.Snapshot{ClusterID: h.Get(api.HeaderSnapshotCluster)}
	idx, err := strconv.ParseUint(h.Get(api.HeaderSnapshotIndex), 10, 64)
	if err != nil {
		return api.Snapshot{}, fmt.Errorf("snapshot answer: bad %s: %w", api.HeaderSnapshotIndex, err)
	}
	size, err := strconv.ParseInt(h.Get(api.HeaderSnapshotSize), 10, 64)
	if err != nil || size < 0 {
		return api.Snapshot{}, fmt.Errorf("snapshot answer: bad %s %q", api.HeaderSnapshotSize, h.Get(api.HeaderSnapshotSize))
	}
	if info.ClusterID == "" {
		return api.Snapshot{}, fmt.Errorf("snapshot answer: no %s", api.HeaderSnapshotCluster)
	}
	info.AppliedIndex, info.Size = idx, size
	return info, nil
}
