package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stratagw/strata/admin"
	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/cluster/gossip"
)

// statusTimeout bounds each peer's status query of `strata members`: a
// dead node must not hold the listing up.
const statusTimeout = time.Second

// gossipLeaveTimeout bounds the broadcast of a graceful gossip leave.
const gossipLeaveTimeout = 5 * time.Second

// membership implements admin.Membership on top of the raft node and
// gossip.
type membership struct{ s *Server }

var _ admin.Membership = membership{}

// Members merges the raft configuration, the gossip member list and each
// reachable node's own status.
func (m membership) Members(ctx context.Context) ([]api.Member, error) {
	servers, err := m.s.node.Servers(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*api.Member{}
	get := func(id string) *api.Member {
		if mb, ok := byID[id]; ok {
			return mb
		}
		mb := &api.Member{NodeID: id, RaftRole: api.RoleNone, Gossip: api.GossipUnknown}
		byID[id] = mb
		return mb
	}
	for _, sv := range servers {
		mb := get(sv.ID)
		mb.RaftAddr, mb.Voter = sv.Address, sv.Voter
	}
	for _, gm := range m.s.cnet.gossip.Members() {
		mb := get(gm.Name)
		mb.Gossip, mb.GossipAddr = string(gm.State), gm.Addr
		mb.S3URL, mb.AdminURL = gm.Meta.S3URL, gm.Meta.AdminURL
		if mb.RaftAddr == "" {
			mb.RaftAddr = gm.Meta.RaftAddr
		}
	}
	m.fillStatus(ctx, byID, servers)
	out := make([]api.Member, 0, len(byID))
	for _, mb := range byID {
		out = append(out, *mb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out, nil
}

// fillStatus asks every member with a raft address for its status, in
// parallel and bounded, and fills in role and applied index. Only members
// in the raft configuration get a raft role.
func (m membership) fillStatus(ctx context.Context, byID map[string]*api.Member, servers []cluster.ServerInfo) {
	inRaft := map[string]bool{}
	for _, sv := range servers {
		inRaft[sv.ID] = true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, mb := range byID {
		if mb.RaftAddr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st cluster.NodeStatus
			var err error
			if id == m.s.cfg.NodeID {
				st = m.s.status()
			} else {
				sctx, cancel := context.WithTimeout(ctx, statusTimeout)
				st, err = m.s.cnet.client.Status(sctx, mb.RaftAddr)
				cancel()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil || st.NodeID != id {
				return
			}
			mb.Reachable, mb.AppliedIndex = true, st.AppliedIndex
			if mb.S3URL == "" {
				mb.S3URL, mb.AdminURL = st.S3URL, st.AdminURL
			}
			if mb.GossipAddr == "" {
				mb.GossipAddr = st.GossipAddr
			}
			if inRaft[id] {
				mb.RaftRole = roleOf(st.State)
			}
		}()
	}
	wg.Wait()
}

// roleOf maps raft's state names to the admin API's roles.
func roleOf(state string) string {
	switch strings.ToLower(state) {
	case "leader":
		return api.RoleLeader
	case "follower":
		return api.RoleFollower
	case "candidate":
		return api.RoleCandidate
	}
	return api.RoleNone
}

// Join is `strata join`: gossip first, then wait (bounded by ctx) until the
// leader added this node and it caught up.
func (m membership) Join(ctx context.Context, addrs []string) error {
	return m.s.joinCluster(ctx, addrs)
}

// Leave hands off leadership, leaves the raft configuration and gossip,
// then asks the process to exit (after the admin answer is written: the
// HTTP shutdown waits for it).
func (m membership) Leave(ctx context.Context) error {
	// Announced first: once the leader removed this node, gossip must not
	// make its autopilot add it back.
	if err := m.s.node.CanLeave(ctx); err != nil {
		return leaveError(err)
	}
	if err := m.s.cnet.gossip.AnnounceLeaving(ctx); err != nil {
		m.s.log.Warn("announce leaving in gossip", "err", err)
	}
	if err := m.s.node.Leave(ctx); err != nil {
		if cerr := m.s.cnet.gossip.CancelLeaving(context.WithoutCancel(ctx)); cerr != nil {
			m.s.log.Warn("withdraw the leaving announcement", "err", cerr)
		}
		return leaveError(err)
	}
	if err := m.s.cnet.gossip.Leave(gossipLeaveTimeout); err != nil {
		m.s.log.Warn("gossip leave", "err", err)
	}
	m.s.log.Info("left the cluster; stopping")
	m.s.exitAfterLeave()
	return nil
}

// leaveError maps a refused leave to the admin API's 409.
func leaveError(err error) error {
	if errors.Is(err, cluster.ErrLastVoter) {
		return fmt.Errorf("%w: %w", admin.ErrRefused, err)
	}
	return err
}

// Remove forces a dead node out of the raft configuration. A node that is
// alive in gossip is refused: the autopilot would add it right back.
func (m membership) Remove(ctx context.Context, nodeID string) error {
	if nodeID == m.s.cfg.NodeID {
		return fmt.Errorf("%w: node %s is this node; run `strata leave` on it instead", admin.ErrMemberAlive, nodeID)
	}
	servers, err := m.s.node.Servers(ctx)
	if err != nil {
		return err
	}
	if !containsServer(servers, nodeID) {
		return fmt.Errorf("%w: %s is not in the raft configuration", admin.ErrUnknownNode, nodeID)
	}
	for _, gm := range m.s.cnet.gossip.Members() {
		if gm.Name == nodeID && (gm.State == gossip.StateAlive || gm.State == gossip.StateSuspect) {
			return fmt.Errorf("%w: node %s is alive; stop it or run `strata leave` on it first", admin.ErrMemberAlive, nodeID)
		}
	}
	if err := m.s.node.RemoveServer(ctx, nodeID); err != nil {
		return err
	}
	// A removed node stays out of `strata members` unless it comes back.
	m.s.cnet.gossip.Forget(nodeID)
	return nil
}
