package api

// GET /v1/snapshot answers the node's state file (application/octet-stream)
// with these headers, and the SHA-256 of the body as a trailer: a body
// without the trailer was cut short.
const (
	// HeaderSnapshotIndex is the raft index of the last command in the
	// snapshot.
	HeaderSnapshotIndex = "X-Strata-Applied-Index"
	// HeaderSnapshotCluster is the id of the cluster the snapshot is of.
	HeaderSnapshotCluster = "X-Strata-Cluster-Id"
	// HeaderSnapshotSize is the body's length in bytes.
	HeaderSnapshotSize = "X-Strata-Snapshot-Size"
	// TrailerSnapshotSHA256 is the hex SHA-256 of the body.
	TrailerSnapshotSHA256 = "X-Strata-Snapshot-Sha256"
)

// Snapshot describes a snapshot taken through GET /v1/snapshot.
type Snapshot struct {
	ClusterID    string `json:"cluster_id"`
	AppliedIndex uint64 `json:"applied_index"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
}
