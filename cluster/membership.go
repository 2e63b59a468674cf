package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// ErrNotSent: a request for another node never reached it (the connection
// or the handshake failed before anything was written), so it is safe to
// retry, even for a write.
var ErrNotSent = errors.New("request not delivered")

// ErrLastVoter: the only voter cannot leave; nobody would be left to hold
// the state.
var ErrLastVoter = errors.New("this node is the only voter")

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
	// HasState: the node has raft state (it bootstrapped or was added to
	// a cluster before). A voter without it lost its data directory.
	HasState bool `msgpack:"has_state" json:"has_state"`
}

// Peer is a gossip member as the autopilot sees it.
type Peer struct {
	ID       string
	RaftAddr string
	// Alive: gossip currently reaches the member. Left: it left, or
	// announced that it is leaving (a dead member that did not leave stays
	// a voter until an operator removes it).
	Alive bool
	Left  bool
}

// Servers returns the latest raft configuration (committed or not).
func (n *Node) Servers(ctx context.Context) ([]ServerInfo, error) {
	if err := n.check(); err != nil {
		return nil, err
	}
	f := n.raft.GetConfiguration()
	if err := n.await(ctx, f); err != nil {
		return nil, fmt.Errorf("cluster: read configuration: %w", n.mapErr(err))
	}
	var out []ServerInfo
	for _, s := range f.Configuration().Servers {
		out = append(out, ServerInfo{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// RemoveServer removes server id from the raft configuration, through the
// leader when this node is a follower. Removing an id that is not in the
// configuration succeeds (removal is idempotent).
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if err := n.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.applyTimeout)
	defer cancel()
	return n.removeServerRouted(ctx, id)
}

// RemoveServerLocal is RemoveServer on the leader only (never forwarded);
// the cluster RPC serves followers' requests with it.
func (n *Node) RemoveServerLocal(ctx context.Context, id string) error {
	if err := n.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.applyTimeout)
	defer cancel()
	if n.raft.State() != raft.Leader {
		return n.notLeaderError()
	}
	return n.removeServerAsLeader(ctx, id)
}

func (n *Node) removeServerAsLeader(ctx context.Context, id string) error {
	f := n.raft.RemoveServer(raft.ServerID(id), 0, enqueueTimeout(ctx))
	if err := n.await(ctx, f); err != nil {
		return fmt.Errorf("cluster: remove server %s: %w", id, n.mapErr(err))
	}
	n.logger.Info("removed server from the raft configuration", "id", id)
	return nil
}

// Leave takes this node out of the cluster gracefully: a leader first hands
// leadership to another voter, then the leader removes this node from the
// raft configuration. The last voter cannot leave (nobody would be left to
// hold the state). Gossip and the process are the caller's to stop.
func (n *Node) Leave(ctx context.Context) error {
	if err := n.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*n.applyTimeout)
	defer cancel()
	servers, err := n.Servers(ctx)
	if err != nil {
		return err
	}
	if !containsID(servers, n.cfg.NodeID) {
		return nil // already removed
	}
	if err := canLeave(servers, n.cfg.NodeID); err != nil {
		return err
	}
	if n.raft.State() == raft.Leader {
		if err := n.await(ctx, n.raft.LeadershipTransfer()); err != nil {
			return fmt.Errorf("cluster: hand over leadership before leaving: %w", n.mapErr(err))
		}
		n.logger.Info("leadership handed over before leaving")
	}
	if err := n.removeServerRouted(ctx, n.cfg.NodeID); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	return nil
}

// CanLeave reports why Leave would be refused (the last voter), without
// changing anything.
func (n *Node) CanLeave(ctx context.Context) error {
	servers, err := n.Servers(ctx)
	if err != nil {
		return err
	}
	return canLeave(servers, n.cfg.NodeID)
}

func canLeave(servers []ServerInfo, id string) error {
	if containsID(servers, id) && votersExcept(servers, id) == 0 {
		return fmt.Errorf("cluster: %w; it cannot leave (stop it instead, or add another node first)", ErrLastVoter)
	}
	return nil
}

func containsID(servers []ServerInfo, id string) bool {
	for _, s := range servers {
		if s.ID == id {
			return true
		}
	}
	return false
}

func votersExcept(servers []ServerInfo, id string) int {
	c := 0
	for _, s := range servers {
		if s.Voter && s.ID != id {
			c++
		}
	}
	return c
}

// HasState reports whether this node has raft state: it was bootstrapped
// or has been part of a cluster before. A node without state waits to be
// added by a leader (or bootstraps a new cluster).
func (n *Node) HasState() (bool, error) {
	if err := n.check(); err != nil {
		return false, err
	}
	has, err := raft.HasExistingState(n.logStore, n.boltStore, n.snaps)
	if err != nil {
		return false, fmt.Errorf("cluster: check existing state: %w", err)
	}
	return has, nil
}

// Status is this node's own NodeStatus except the addresses, which only
// the process wiring the node knows (it fills them in).
func (n *Node) Status() NodeStatus {
	st := NodeStatus{NodeID: n.cfg.NodeID, State: "Shutdown", AppliedIndex: n.cfg.FSM.AppliedIndex()}
	if n.check() == nil {
		st.State = n.raft.State().String()
		st.RaftAddr = string(n.transport.LocalAddr())
		st.HasState, _ = n.HasState()
	}
	return st
}
