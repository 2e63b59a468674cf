package cluster

import "errors"

// ErrNotSent: a request for another node never reached it (the connection
// or the handshake failed before anything was written), so it is safe to
// retry, even for a write.
var ErrNotSent = errors.New("request not delivered")

// ServerInfo is one entry of the raft configuration.
type ServerInfo struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// NodeStatus is what a node reports about itself over the cluster RPC
// (and what `strata members` shows per node).
type NodeStatus struct {
	NodeID     string `msgpack:"node_id" json:"node_id"`
	RaftAddr   string `msgpack:"raft_addr" json:"raft_addr"`
	GossipAddr string `msgpack:"gossip_addr" json:"gossip_addr"`
	S3URL      string `msgpack:"s3_url" json:"s3_url"`
	AdminURL   string `msgpack:"admin_url" json:"admin_url"`
	// State is the raft state: Leader, Follower, Candidate or Shutdown.
	State        string `msgpack:"state" json:"state"`
	AppliedIndex uint64 `msgpack:"applied_index" json:"applied_index"`
	ClusterID    string `msgpack:"cluster_id" json:"cluster_id"`
}

// Peer is a gossip member as the autopilot sees it.
type Peer struct {
	ID       string
	RaftAddr string
	// Alive: gossip currently reaches the member. Left: it announced a
	// graceful leave (a dead member that did not leave stays a voter
	// until an operator removes it).
	Alive bool
	Left  bool
}
