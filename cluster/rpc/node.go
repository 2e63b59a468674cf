package rpc

import (
	"context"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
)

// NodeService serves a *cluster.Node. It calls only the node's leader-only
// methods (ApplyLocal, ReadIndex, RemoveServerLocal): a request that
// reaches a node which is no longer the leader is refused with
// ErrNotLeader, never forwarded again, so a request cannot bounce between
// nodes during an election and the follower that sent it knows nothing was
// submitted.
type NodeService struct {
	// Node is the local raft node.
	Node *cluster.Node
	// Describe returns this node's status with the addresses only the
	// wiring knows (gossip, S3 and admin URLs). Nil: Node.Status() as is.
	Describe func() cluster.NodeStatus
}

var _ Service = NodeService{}

// ApplyLocal submits cmd if this node leads.
func (s NodeService) ApplyLocal(ctx context.Context, cmd []byte) (fsm.Result, error) {
	return s.Node.ApplyLocal(ctx, cmd)
}

// ReadIndex confirms leadership and returns the commit index.
func (s NodeService) ReadIndex(ctx context.Context) (uint64, error) {
	return s.Node.ReadIndex(ctx)
}

// RemoveServer removes id from the raft configuration if this node leads.
func (s NodeService) RemoveServer(ctx context.Context, id string) error {
	return s.Node.RemoveServerLocal(ctx, id)
}

// Status describes this node.
func (s NodeService) Status(context.Context) (cluster.NodeStatus, error) {
	if s.Describe != nil {
		return s.Describe(), nil
	}
	return s.Node.Status(), nil
}
