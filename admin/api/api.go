// Package api holds the admin API's wire types: the JSON bodies exchanged
// between the admin handler (package admin) and its clients (admin/client,
// the strata CLI). It has no behaviour, so both sides can import it without
// pulling in the other.
package api

import "time"

// Backend is a backend as the admin API shows it. Secrets never appear:
// an s3 backend shows its access key only.
type Backend struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Path      string    `json:"path,omitempty"`
	Endpoint  string    `json:"endpoint,omitempty"`
	Region    string    `json:"region,omitempty"`
	PathStyle bool      `json:"path_style,omitempty"`
	AccessKey string    `json:"access_key,omitempty"`
	Regions   []string  `json:"regions"` // virtual regions backed by it
	CreatedAt time.Time `json:"created_at"`
}

// AddBackend is the body of POST /v1/backends.
type AddBackend struct {
	Name      string `json:"name"`
	Type      string `json:"type"` // "fs" or "s3"
	Path      string `json:"path,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
	Region    string `json:"region,omitempty"`
	PathStyle bool   `json:"path_style,omitempty"`
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
}

// BackingRegion names one region of one backend.
type BackingRegion struct {
	Backend   string `json:"backend"` // backend name
	BackendID string `json:"backend_id"`
	Region    string `json:"region"`
}

// Region is a virtual region.
type Region struct {
	Name     string          `json:"name"`
	Default  bool            `json:"default"`
	Backings []BackingRegion `json:"backings"`
}

// RenameRegion is the body of POST /v1/regions/{name}/rename.
type RenameRegion struct {
	New string `json:"new"`
}

// DefaultRegion is the body of PUT /v1/config/default-region.
type DefaultRegion struct {
	Region string `json:"region"`
}

// BackingBucket is one real bucket behind a virtual bucket.
type BackingBucket struct {
	Backend   string `json:"backend"`
	BackendID string `json:"backend_id"`
	Region    string `json:"region"`
	Name      string `json:"name"`
}

// Bucket is a virtual bucket.
type Bucket struct {
	Name      string          `json:"name"`
	Region    string          `json:"region"`
	Owner     string          `json:"owner"`
	Imported  bool            `json:"imported,omitempty"`
	Backings  []BackingBucket `json:"backings"`
	CreatedAt time.Time       `json:"created_at"`
}

// Cluster is the answer of GET /v1/cluster.
type Cluster struct {
	ClusterID     string            `json:"cluster_id"`
	NodeID        string            `json:"node_id"`
	State         string            `json:"state"` // raft state: Leader, Follower, …
	Leader        string            `json:"leader"`
	LeaderAddr    string            `json:"leader_addr"`
	Ready         bool              `json:"ready"`
	AppliedIndex  uint64            `json:"applied_index"`
	DefaultRegion string            `json:"default_region"`
	Stats         map[string]string `json:"stats,omitempty"`
}

// Member is one node of the cluster as GET /v1/cluster/members shows it:
// the union of the raft configuration and the gossip members, with what
// the node said about itself when it could be asked.
type Member struct {
	NodeID     string `json:"node_id"`
	RaftAddr   string `json:"raft_addr"`
	GossipAddr string `json:"gossip_addr"`
	S3URL      string `json:"s3_url"`
	AdminURL   string `json:"admin_url"`
	// RaftRole is one of the Role constants.
	RaftRole string `json:"raft_role"`
	Voter    bool   `json:"voter"`
	// Gossip is one of the Gossip constants.
	Gossip string `json:"gossip"`
	// AppliedIndex is the last raft index the node applied (0 when it
	// could not be asked: see Reachable).
	AppliedIndex uint64 `json:"applied_index"`
	Reachable    bool   `json:"reachable"`
}

// Raft roles of a Member. RoleNone: the node is not in the raft
// configuration (a gossip member not yet added, or one being removed).
const (
	RoleLeader    = "leader"
	RoleFollower  = "follower"
	RoleCandidate = "candidate"
	RoleNone      = "none"
)

// Gossip states of a Member. GossipUnknown: the node is in the raft
// configuration but gossip does not know it (or no longer remembers it).
const (
	GossipAlive   = "alive"
	GossipSuspect = "suspect"
	GossipDead    = "dead"
	GossipLeft    = "left"
	GossipUnknown = "unknown"
)

// JoinRequest is the body of POST /v1/cluster/join: gossip addresses
// (HOST:PORT) of members of the cluster to join.
type JoinRequest struct {
	Addrs []string `json:"addrs"`
}

// RemoveRequest is the body of POST /v1/cluster/remove.
type RemoveRequest struct {
	NodeID string `json:"node_id"`
}

// LeaveResult is the answer of POST /v1/cluster/leave. It is sent once the
// node has left; the node exits afterwards.
type LeaveResult struct {
	Status string `json:"status"` // "left"
	NodeID string `json:"node_id,omitempty"`
}

// Status is the answer of /health and /ready.
type Status struct {
	Status string `json:"status"` // "ok" or "unavailable"
	Reason string `json:"reason,omitempty"`
}

// Error codes of the admin API.
const (
	CodeAccessDenied       = "AccessDenied"
	CodeInvalidRequest     = "InvalidRequest"
	CodeNotFound           = "NotFound"
	CodeConflict           = "Conflict"
	CodeBackendUnreachable = "BackendUnreachable"
	CodeNotReady           = "NotReady"
	CodeInternal           = "InternalError"
	CodeMethodNotAllowed   = "MethodNotAllowed"
	// CodeNotImplemented: the node was built or started without the
	// feature (e.g. clustering).
	CodeNotImplemented = "NotImplemented"
)

// ErrorBody is every error response: {"error":{"code":…,"message":…}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
