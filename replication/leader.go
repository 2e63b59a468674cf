package replication

import (
	"context"
	"time"
)

// runOnLeader calls pass until ctx is done: as soon as this node is (or
// becomes) the leader, then every interval while it stays leader. On a
// follower it does nothing, so every node may run every worker and only
// the leader acts; a new leader runs a pass at once instead of waiting a
// full interval.
func runOnLeader(ctx context.Context, c Cluster, interval time.Duration, pass func(context.Context)) {
	t := time.NewTicker(min(interval, leaderPoll))
	defer t.Stop()
	var last time.Time
	wasLeader := false
	for {
		leader := c.IsLeader()
		if leader && (!wasLeader || time.Since(last) >= interval) {
			last = time.Now()
			pass(ctx)
		}
		wasLeader = leader
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
