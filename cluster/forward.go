package cluster

import (
	"context"
	"fmt"

	"github.com/stratagw/strata/fsm"
)

// LeaderClient is the seam for leader forwarding: a follower hands writes
// and read-index requests to the leader through it. The cluster RPC of the
// multi-node issue implements it (dialling the leader's cluster address,
// where the leader answers with Node.ApplyEncoded and Node.ReadIndex); a
// single node needs none.
type LeaderClient interface {
	// Apply submits an encoded command (fsm.Encode) to the leader at
	// leaderAddr and returns the leader's result, whose Index the follower
	// then waits for locally.
	Apply(ctx context.Context, leaderAddr string, cmd []byte) (fsm.Result, error)
	// ReadIndex asks the leader at leaderAddr for its confirmed commit
	// index (see Node.ReadIndex).
	ReadIndex(ctx context.Context, leaderAddr string) (uint64, error)
}

// applyViaLeader is Apply on a follower: forward to the leader, then wait
// until the local state has the command, so that the caller reads its own
// write on this node.
func (n *Node) applyViaLeader(ctx context.Context, cmd []byte) (fsm.Result, error) {
	addr, id := n.raft.LeaderWithID()
	if n.cfg.LeaderClient == nil || addr == "" {
		return fsm.Result{}, n.notLeaderError()
	}
	res, err := n.cfg.LeaderClient.Apply(ctx, string(addr), cmd)
	if err != nil {
		return res, fmt.Errorf("forward command to leader %s at %s: %w", id, addr, err)
	}
	if werr := n.waitApplied(ctx, res.Index); werr != nil {
		return res, fmt.Errorf("wait for forwarded command at index %d: %w", res.Index, werr)
	}
	if res.Err != nil {
		return res, res.Err
	}
	return res, nil
}

// readIndexViaLeader is ReadBarrier's first half on a follower.
func (n *Node) readIndexViaLeader(ctx context.Context) (uint64, error) {
	addr, id := n.raft.LeaderWithID()
	if n.cfg.LeaderClient == nil || addr == "" {
		return 0, n.notLeaderError()
	}
	idx, err := n.cfg.LeaderClient.ReadIndex(ctx, string(addr))
	if err != nil {
		return 0, fmt.Errorf("read index from leader %s at %s: %w", id, addr, err)
	}
	return idx, nil
}

// notLeaderError names the leader, if known, so that operators (and the
// forwarding layer's logs) see where writes should go.
func (n *Node) notLeaderError() error {
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return fmt.Errorf("%w (no leader known)", ErrNotLeader)
	}
	return fmt.Errorf("%w (leader is %s at %s)", ErrNotLeader, id, addr)
}
