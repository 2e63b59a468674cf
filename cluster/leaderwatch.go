package cluster

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// leaderCheckInterval is the fallback poll of cancelOnLeaderChange, for an
// observation raft dropped (its observer channel is not blocking).
const leaderCheckInterval = 250 * time.Millisecond

// observeLeader registers a raft observer for leader changes and feeds the
// watch until the node shuts down.
func (n *Node) observeLeader() {
	ch := make(chan raft.Observation, 64)
	n.raft.RegisterObserver(raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	}))
	go func() {
		for {
			select {
			case <-ch:
				n.leaders.broadcast()
			case <-n.shutdownCh:
				return
			}
		}
	}()
}

// cancelOnLeaderChange derives a context that is cancelled when this node
// stops believing that addr is the leader. stop releases it and reports
// whether the cancellation happened because of a leader change.
func (n *Node) cancelOnLeaderChange(ctx context.Context, addr string) (context.Context, func() bool) {
	cctx, cancel := context.WithCancel(ctx)
	var changed atomic.Bool
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(leaderCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-n.leaders.changed():
			case <-t.C:
			case <-done:
				return
			case <-cctx.Done():
				return
			}
			if cur, _ := n.raft.LeaderWithID(); string(cur) != addr {
				changed.Store(true)
				cancel()
				return
			}
		}
	}()
	return cctx, func() bool {
		close(done)
		cancel()
		return changed.Load()
	}
}
