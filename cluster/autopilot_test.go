package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestAutopilotVoterLimit: with seven members the leader keeps MaxVoters
// voters and the rest as non-voters; when a voter leaves, a non-voter is
// promoted, and a member that left is removed and never re-added.
func TestAutopilotVoterLimit(t *testing.T) {
	leader := startNode(t, t.TempDir())
	peers := []Peer{{ID: "node-1", RaftAddr: string(leader.transport.LocalAddr()), Alive: true}}
	for i := 2; i <= 7; i++ {
		id := fmt.Sprintf("node-%d", i)
		n := openNode(t, t.TempDir(), func(c *Config) { c.NodeID = id })
		peers = append(peers, Peer{ID: id, RaftAddr: string(n.transport.LocalAddr()), Alive: true})
	}
	ap := leader.NewAutopilot(AutopilotConfig{Peers: func() []Peer { return peers }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	count := func() (voters, nonvoters int, ids map[string]bool) {
		servers, err := leader.Servers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = map[string]bool{}
		for _, s := range servers {
			ids[s.ID] = true
			if s.Voter {
				voters++
			} else {
				nonvoters++
			}
		}
		return voters, nonvoters, ids
	}
	if err := ap.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if v, nv, _ := count(); v != MaxVoters || nv != 2 {
		t.Fatalf("after the first pass: %d voters, %d non-voters; want %d and 2", v, nv, MaxVoters)
	}
	// A voter leaves gracefully: it is removed and a non-voter promoted.
	servers, _ := leader.Servers(ctx)
	var gone string
	for _, s := range servers {
		if s.Voter && s.ID != "node-1" {
			gone = s.ID
			break
		}
	}
	for i := range peers {
		if peers[i].ID == gone {
			peers[i].Left = true
		}
	}
	if err := ap.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile after a leave: %v", err)
	}
	v, nv, ids := count()
	if v != MaxVoters || nv != 1 || ids[gone] {
		t.Fatalf("after %s left: %d voters, %d non-voters, servers %v", gone, v, nv, ids)
	}
	// Idempotent: another pass changes nothing.
	if err := ap.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile again: %v", err)
	}
	if v2, nv2, ids2 := count(); v2 != v || nv2 != nv || len(ids2) != len(ids) {
		t.Fatalf("a second pass changed the configuration: %d/%d %v", v2, nv2, ids2)
	}
}

// TestAutopilotProbeGuards: with a probe, a member whose raft address
// answers with another id, or with another cluster's id, is not added; a
// good member joins as a non-voter and is promoted only after it stayed
// caught up for the stabilization period.
func TestAutopilotProbeGuards(t *testing.T) {
	leader := startNode(t, t.TempDir())
	seed(t, leader, "b1")
	n2 := openNode(t, t.TempDir(), func(c *Config) { c.NodeID = "node-2" })
	addr2 := string(n2.transport.LocalAddr())
	cfg, _, _ := leader.fsm.Config()
	answers := map[string]NodeStatus{}
	probe := func(_ context.Context, addr string) (NodeStatus, error) {
		st, ok := answers[addr]
		if !ok {
			return NodeStatus{}, ErrNotSent
		}
		return st, nil
	}
	peers := []Peer{{ID: "node-2", RaftAddr: addr2, Alive: true}}
	ap := leader.NewAutopilot(AutopilotConfig{
		Peers: func() []Peer { return peers }, Probe: probe, Stabilization: 300 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inConfig := func() (bool, bool) {
		servers, err := leader.Servers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			if s.ID == "node-2" {
				return true, s.Voter
			}
		}
		return false, false
	}
	for _, tc := range []struct {
		name   string
		answer *NodeStatus
	}{
		{"unreachable", nil},
		{"another node's address", &NodeStatus{NodeID: "node-9"}},
		{"another cluster", &NodeStatus{NodeID: "node-2", ClusterID: "other", HasState: true}},
		{"state but no cluster", &NodeStatus{NodeID: "node-2", HasState: true}},
	} {
		delete(answers, addr2)
		if tc.answer != nil {
			answers[addr2] = *tc.answer
		}
		_ = ap.Reconcile(ctx)
		if in, _ := inConfig(); in {
			t.Fatalf("%s: node-2 was added", tc.name)
		}
	}
	answers[addr2] = NodeStatus{NodeID: "node-2"} // fresh, no state
	if err := ap.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if in, voter := inConfig(); !in || voter {
		t.Fatalf("a good member: in=%v voter=%v, want a non-voter", in, voter)
	}
	waitFor(t, 10*time.Second, "node-2 caught up", func() bool { return n2.fsm.AppliedIndex() == leader.fsm.AppliedIndex() })
	answers[addr2] = NodeStatus{NodeID: "node-2", ClusterID: cfg.ClusterID, HasState: true, AppliedIndex: n2.fsm.AppliedIndex()}
	if err := ap.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if _, voter := inConfig(); voter {
		t.Fatal("promoted before the stabilization period")
	}
	time.Sleep(350 * time.Millisecond)
	if err := ap.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if _, voter := inConfig(); !voter {
		t.Fatal("not promoted after the stabilization period")
	}
	// A voter that answers without raft state lost its data: demoted.
	answers[addr2] = NodeStatus{NodeID: "node-2"}
	if err := ap.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if in, voter := inConfig(); !in || voter {
		t.Fatalf("a voter without state: in=%v voter=%v, want a non-voter", in, voter)
	}
}
