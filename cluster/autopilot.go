package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/raft"
)

// MaxVoters is how many voters the autopilot keeps: five tolerate two
// failures; more only slow every commit down. Further nodes join as
// non-voters (they replicate and serve reads) and are promoted when a
// voter leaves.
const MaxVoters = 5

// DefaultAutopilotInterval is how often the leader reconciles even without
// a gossip event (an add that failed is retried then).
const DefaultAutopilotInterval = 2 * time.Second

// RunAutopilot keeps the raft configuration in line with gossip until ctx
// ends: whenever changed() fires, and every interval, the leader runs
// Reconcile with peers(). Followers do nothing. It is what turns `strata
// server --join` and `strata join` into raft membership.
func (n *Node) RunAutopilot(ctx context.Context, peers func() []Peer, changed func() <-chan struct{}, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultAutopilotInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n.IsLeader() {
			if err := n.Reconcile(ctx, peers()); err != nil && ctx.Err() == nil && !errors.Is(err, ErrShutdown) {
				n.logger.Warn("autopilot: reconcile failed; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-n.shutdownCh:
			return
		case <-changed():
		case <-t.C:
		}
	}
}

// Reconcile makes one pass on the leader (a no-op on followers): alive
// gossip members missing from the raft configuration are added (as voters
// up to MaxVoters, then as non-voters), non-voters are promoted while
// there are fewer than MaxVoters voters, and members that left gracefully
// are removed. An entry whose id or address conflicts with a member's
// (a node that came back under a new address, or an address now used by
// another id) is removed before the member is added, so joins are
// idempotent. Members that failed without leaving stay until an operator
// removes them: they may come back.
func (n *Node) Reconcile(ctx context.Context, peers []Peer) error {
	if !n.IsLeader() {
		return nil
	}
	servers, err := n.Servers(ctx)
	if err != nil {
		return err
	}
	byID := make(map[string]ServerInfo, len(servers))
	byAddr := make(map[string]ServerInfo, len(servers))
	voters := 0
	for _, s := range servers {
		byID[s.ID], byAddr[s.Address] = s, s
		if s.Voter {
			voters++
		}
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].ID < peers[j].ID })
	var errs []error
	remove := func(s ServerInfo, why string) bool {
		if err := n.changeConfig(ctx, "remove", s.ID, "", why); err != nil {
			errs = append(errs, err)
			return false
		}
		delete(byID, s.ID)
		delete(byAddr, s.Address)
		if s.Voter {
			voters--
		}
		return true
	}
	for _, p := range peers {
		if p.ID == n.cfg.NodeID || p.ID == "" || p.RaftAddr == "" {
			continue
		}
		s, known := byID[p.ID]
		if p.Left {
			if known {
				remove(s, "member left the cluster")
			}
			continue
		}
		if !p.Alive {
			continue
		}
		if known && s.Address == p.RaftAddr {
			if !s.Voter && voters < MaxVoters {
				if err := n.changeConfig(ctx, "promote", p.ID, p.RaftAddr, "fewer than the maximum number of voters"); err != nil {
					errs = append(errs, err)
				} else {
					voters++
				}
			}
			continue
		}
		if known && !remove(s, "member now has raft address "+p.RaftAddr) {
			continue
		}
		if o, taken := byAddr[p.RaftAddr]; taken {
			if o.ID == n.cfg.NodeID {
				errs = append(errs, fmt.Errorf("member %s advertises this leader's own raft address %s; not added", p.ID, p.RaftAddr))
				continue
			}
			if !remove(o, "its address now belongs to member "+p.ID) {
				continue
			}
		}
		op := "add voter"
		if voters >= MaxVoters {
			op = "add non-voter"
		}
		if err := n.changeConfig(ctx, op, p.ID, p.RaftAddr, "new gossip member"); err != nil {
			errs = append(errs, err)
			continue
		}
		if op == "add voter" {
			voters++
		}
	}
	return errors.Join(errs...)
}

// changeConfig runs one configuration change on the leader and logs it.
func (n *Node) changeConfig(ctx context.Context, op, id, addr, why string) error {
	timeout := enqueueTimeout(ctx)
	var f raft.IndexFuture
	switch op {
	case "remove":
		f = n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	case "add non-voter":
		f = n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	default: // add voter, promote
		f = n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	}
	if err := n.await(ctx, f); err != nil {
		return fmt.Errorf("autopilot: %s %s: %w", op, id, n.mapErr(err))
	}
	n.logger.Info("autopilot: raft configuration changed", "op", op, "id", id, "address", addr, "why", why)
	return nil
}
