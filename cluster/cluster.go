// Package cluster owns strata's raft node: the raft log and stable store
// (raft-boltdb), the snapshot store, the TCP transport, leader election,
// submitting commands (Apply) and strong reads (ReadBarrier). It drives the
// state machine in package fsm but never interprets commands itself, and it
// knows nothing about S3, backends or HTTP.
//
// One Node type is the whole API: New → Open → Bootstrap (first node) or
// wait to be added (a joining node) → Apply / ReadBarrier → Close. A
// follower forwards writes and read-index requests to the leader through
// the LeaderClient seam (forward.go; package cluster/rpc implements it).
// The autopilot (autopilot.go) turns gossip members (package
// cluster/gossip) into raft voters; port 9100 is secured by package
// cluster/clusternet. See DESIGN.md for the trade-offs, notably why raft
// never restores a snapshot on start.
package cluster

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/stratagw/strata/fsm"
)

// Errors returned by Node methods, wrapped with context. The gateway maps
// all of them to 503 ServiceUnavailable: the command may or may not have
// been applied.
var (
	// ErrNotLeader: this node is not the leader and cannot forward the
	// request. The error message names the leader when one is known.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrTimeout: the command was not committed (or the read barrier did
	// not complete) within the apply timeout. It may still be applied.
	ErrTimeout = errors.New("raft timeout")
	// ErrShutdown: the node is closing or closed.
	ErrShutdown = errors.New("raft node is shut down")
	// ErrNotOpen: a method that needs raft was called before Open.
	ErrNotOpen = errors.New("raft node is not open")
	// ErrNoLeader: WaitForLeader gave up (its context ended) before a
	// leader was known.
	ErrNoLeader = errors.New("no raft leader")
)

// Consistency levels for ReadBarrier.
const (
	// ConsistencyStrong makes every read barrier confirm leadership and
	// wait for the local state to reach the leader's commit index.
	ConsistencyStrong = "strong"
	// ConsistencyLocal makes ReadBarrier return at once: reads see this
	// node's state, which may lag the leader.
	ConsistencyLocal = "local"
)

// Defaults for the zero values of Config.
const (
	DefaultApplyTimeout     = 10 * time.Second
	defaultMaxAppendEntries = 512
	defaultLogCacheSize     = 512
	defaultRetainSnapshots  = 2
	defaultTransportPool    = 3
	defaultTransportTimeout = 10 * time.Second
	defaultCommitTimeout    = 5 * time.Millisecond
)

// Config configures one node. Zero values mean sensible defaults (raft's
// own defaults for the raft tuning knobs).
type Config struct {
	// NodeID is the raft server id; stable for the life of the node.
	NodeID string
	// DataDir holds raft/raft.db (log + stable store) and raft/snapshots.
	DataDir string
	// BindAddr is the raft TCP listen address ("127.0.0.1:0" picks a free
	// port). Ignored when Listener is set.
	BindAddr string
	// Listener, when set, is used instead of listening on BindAddr. It lets
	// the cluster RPC share the raft port later (a multiplexing listener
	// hands raft's connections over); the Node closes it on Close.
	Listener net.Listener
	// Dial opens a raft connection to another node (the cluster-key
	// authenticated TLS of package clusternet in production). Nil: plain
	// TCP, for tests of this package.
	Dial func(addr string, timeout time.Duration) (net.Conn, error)
	// Advertise is the host:port other nodes dial (a host name stays a
	// name). Empty means the
	// listener's address, which must then not be a wildcard address.
	Advertise string
	// FSM is the state machine raft drives. The Node does not close it.
	FSM *fsm.FSM
	// Logger receives raft's logs (adapted from hclog) and the node's own.
	Logger *slog.Logger

	// SnapshotInterval is how often raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// SnapshotThreshold is how many new log entries trigger a snapshot.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries are kept after a snapshot.
	TrailingLogs uint64
	// ApplyTimeout bounds Apply and ReadBarrier (default 10s); the
	// caller's context can shorten it.
	ApplyTimeout time.Duration

	// HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout and
	// CommitTimeout are raft's timeouts. A lease timeout left at zero is
	// capped at the heartbeat timeout so that short test timeouts are valid.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// Consistency is ConsistencyStrong (default) or ConsistencyLocal.
	Consistency string

	// LeaderClient forwards commands, read-index requests and membership
	// changes to the leader when this node is a follower (package
	// cluster/rpc). Nil means a follower answers ErrNotLeader.
	LeaderClient LeaderClient
}

// validate checks the fields that have no default.
func (c *Config) validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("cluster: NodeID is required")
	case c.DataDir == "":
		return errors.New("cluster: DataDir is required")
	case c.FSM == nil:
		return errors.New("cluster: FSM is required")
	case c.BindAddr == "" && c.Listener == nil:
		return errors.New("cluster: BindAddr or Listener is required")
	}
	switch c.Consistency {
	case "", ConsistencyStrong, ConsistencyLocal:
	default:
		return errors.New(`cluster: Consistency must be "strong" or "local", got "` + c.Consistency + `"`)
	}
	return nil
}
