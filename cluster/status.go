package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// leaderPollInterval is how often WaitForLeader looks for a leader.
const leaderPollInterval = 10 * time.Millisecond

// WaitForLeader returns once a leader is known (this node or another),
// or fails with ErrNoLeader when ctx ends first.
func (n *Node) WaitForLeader(ctx context.Context) error {
	if err := n.check(); err != nil {
		return err
	}
	t := time.NewTicker(leaderPollInterval)
	defer t.Stop()
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("cluster: %w: %w", ErrNoLeader, ctx.Err())
		case <-n.shutdownCh:
			return ErrShutdown
		}
	}
}

// IsLeader reports whether this node is the raft leader.
func (n *Node) IsLeader() bool {
	return n.check() == nil && n.raft.State() == raft.Leader
}

// Leader returns the leader's node id and raft address; both are empty
// when no leader is known.
func (n *Node) Leader() (id, addr string) {
	if n.check() != nil {
		return "", ""
	}
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Ready reports whether the node can serve: a leader is known, the local
// state file is healthy, and it has applied everything this node knows to
// be committed. It backs the admin API's /ready.
func (n *Node) Ready() bool {
	if n.check() != nil {
		return false
	}
	if addr, _ := n.raft.LeaderWithID(); addr == "" || n.cfg.FSM.Fatal() != nil {
		return false
	}
	done, err := n.appliedThrough(n.raft.CommitIndex())
	return err == nil && done
}

// Snapshot takes a snapshot now and compacts the log (keeping
// TrailingLogs entries). It succeeds without a new snapshot when nothing
// was applied since the last one.
func (n *Node) Snapshot(ctx context.Context) error {
	if err := n.check(); err != nil {
		return err
	}
	err := n.await(ctx, n.raft.Snapshot())
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("cluster: snapshot: %w", n.mapErr(err))
	}
	return nil
}

// Stats returns raft's statistics (state, term, indexes, peers, …) plus
// the FSM's applied index and the read consistency.
func (n *Node) Stats() map[string]string {
	if n.check() != nil {
		return map[string]string{"state": "Shutdown"}
	}
	s := n.raft.Stats()
	s["node_id"] = n.cfg.NodeID
	s["fsm_applied_index"] = strconv.FormatUint(n.cfg.FSM.AppliedIndex(), 10)
	s["consistency"] = n.cfg.Consistency
	return s
}

// CompactLog takes a snapshot now and truncates the whole log behind it, so
// that every node added later receives the state as a snapshot instead of
// replaying the log. A node whose state did not come from its own log
// needs this: after `strata restore` the state file holds a backup while
// the new raft log is empty, and a joiner replaying that log would end up
// with an empty state.
func (n *Node) CompactLog(ctx context.Context) error {
	if err := n.check(); err != nil {
		return err
	}
	rc := n.raft.ReloadableConfig()
	compact := rc
	compact.TrailingLogs = 0
	if err := n.raft.ReloadConfig(compact); err != nil {
		return fmt.Errorf("cluster: compact log: %w", err)
	}
	defer func() {
		if err := n.raft.ReloadConfig(rc); err != nil {
			n.logger.Error("restore raft's trailing-logs setting after compaction", "err", err)
		}
	}()
	err := n.await(ctx, n.raft.Snapshot())
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("cluster: compact log: %w", n.mapErr(err))
	}
	return nil
}
