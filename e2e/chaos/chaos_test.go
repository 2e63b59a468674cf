package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/internal/testenv"
)

// Phases of a scenario: load before the fault, with the fault, after
// healing.
const (
	warmup = 10 * time.Second
	faulty = 15 * time.Second
	settle = 5 * time.Second
	// partitionGrace is how long an isolated leader may still acknowledge
	// a write it had committed before the cut: raft's leader lease (at most
	// 1s with strata's timeouts) plus one second.
	partitionGrace = 2 * time.Second
	// electionBound is how long the majority may take to elect a new leader
	// and acknowledge writes again.
	electionBound = 10 * time.Second
)

var threeNodes = []string{"strata1", "strata2", "strata3"}

// TestChaos runs the fault scenarios one after the other on one compose
// cluster under a steady S3 load from clients spread over all nodes, and
// checks each run's history for linearizability.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("docker chaos tests")
	}
	testenv.RequireDocker(t)
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for _, s := range []string{"strata1", "strata2", "strata3"} {
		c.waitReady(ctx, s, time.Minute)
	}
	t.Run("KillLeader", func(t *testing.T) { killLeader(ctx, t, c) })
	t.Run("PartitionLeader", func(t *testing.T) { partitionLeader(ctx, t, c) })
	t.Run("RollingRestart", func(t *testing.T) { rollingRestart(ctx, t, c) })
	// Last: it changes the membership for good.
	t.Run("AddAndLeave", func(t *testing.T) { addAndLeave(ctx, t, c) })
}

// run is one scenario's load and history.
type run struct {
	t     *testing.T
	c     *composeCluster
	h     *History
	cfg   LoadConfig
	loads []*Load
	next  int // next free client id
}

// startRun creates the scenario's bucket and starts six clients spread
// over svcs (staying on their node if sticky).
func startRun(ctx context.Context, t *testing.T, c *composeCluster, bucket string, svcs []string, sticky bool) *run {
	t.Helper()
	c.createBucket(ctx, "strata1", bucket)
	r := &run{t: t, c: c, h: NewHistory(), cfg: LoadConfig{
		Bucket: bucket, AccessKey: c.accessKey, SecretKey: c.secretKey,
		Clients: 6, Keys: 8, OpTimeout: 5 * time.Second, Pause: 20 * time.Millisecond, Sticky: sticky,
	}}
	r.addLoad(ctx, svcs, 6)
	return r
}

// addLoad starts n more clients on svcs.
func (r *run) addLoad(ctx context.Context, svcs []string, n int) {
	r.t.Helper()
	r.addLoadTimeout(ctx, svcs, n, r.cfg.OpTimeout)
}

// addLoadTimeout starts n more clients on svcs with their own operation
// timeout.
func (r *run) addLoadTimeout(ctx context.Context, svcs []string, n int, opTimeout time.Duration) {
	r.t.Helper()
	cfg := r.cfg
	cfg.Endpoints, cfg.Clients, cfg.FirstClient, cfg.OpTimeout = r.c.endpoints(svcs...), n, r.next, opTimeout
	l, err := StartLoad(ctx, cfg, r.h)
	if err != nil {
		r.t.Fatal(err)
	}
	r.loads = append(r.loads, l)
	r.next += n
}

// finish stops the load, reads every key from every node of svcs (all
// must be ready again), checks the history and returns it.
func (r *run) finish(ctx context.Context, svcs []string) []Op {
	r.t.Helper()
	for _, l := range r.loads {
		r.t.Logf("load: %s", l.Stop())
	}
	for _, s := range svcs {
		r.c.waitReady(ctx, s, time.Minute)
	}
	cfg := r.cfg
	cfg.Endpoints = r.c.endpoints(svcs...)
	if err := FinalReads(ctx, cfg, r.h, r.next); err != nil {
		r.t.Errorf("final reads: %v", err)
	}
	ops := r.h.Ops()
	requireLinearizable(r.t, ops)
	return ops
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// requireProgress fails unless some write sent to one of svcs was
// acknowledged with its call in [from, to].
func requireProgress(t *testing.T, ops []Op, svcs []string, from, to int64, what string) {
	t.Helper()
	for _, op := range ops {
		if op.Kind != Get && op.Outcome == OK && op.Call >= from && op.Call <= to && slices.Contains(svcs, op.Node) {
			return
		}
	}
	t.Errorf("no write acknowledged by %v %s", svcs, what)
}

// others returns svcs without s.
func others(svcs []string, s string) []string {
	return slices.DeleteFunc(slices.Clone(svcs), func(x string) bool { return x == s })
}

// killLeader: kill -9 the leader, start it again 15 s later.
func killLeader(ctx context.Context, t *testing.T, c *composeCluster) {
	r := startRun(ctx, t, c, "chaos-kill", threeNodes, false)
	sleep(ctx, warmup)
	leader := c.leader(ctx, threeNodes, 30*time.Second)
	id := c.container(ctx, leader)
	t.Logf("killing the leader %s", leader)
	tFault := r.h.Now()
	if _, err := docker(ctx, "kill", "-s", "KILL", id); err != nil {
		t.Fatal(err)
	}
	sleep(ctx, faulty)
	tHeal := r.h.Now()
	if _, err := docker(ctx, "start", id); err != nil {
		t.Fatal(err)
	}
	c.waitReady(ctx, leader, time.Minute)
	t.Logf("%s is back", leader)
	sleep(ctx, settle)
	ops := r.finish(ctx, threeNodes)
	requireProgress(t, ops, others(threeNodes, leader), tFault+int64(electionBound), tHeal,
		"while the old leader was down (after a new election)")
	requireProgress(t, ops, threeNodes, tHeal, r.h.Now(), "after the old leader came back")
}

// partitionLeader: cut the leader off the cluster's networks (it stays
// reachable for its own clients through a network of its own), reconnect
// it 15 s later. The isolated node must not acknowledge writes.
func partitionLeader(ctx context.Context, t *testing.T, c *composeCluster) {
	r := startRun(ctx, t, c, "chaos-partition", threeNodes, true)
	sleep(ctx, warmup)
	leader := c.leader(ctx, threeNodes, 30*time.Second)
	id := c.container(ctx, leader)
	front := c.project + "_front_" + leader
	if _, err := docker(ctx, "network", "create", front); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bg, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = docker(bg, "network", "disconnect", "-f", front, id)
		_, _ = docker(bg, "network", "rm", front)
	})
	// The published ports follow the container to the network it has
	// left: its clients still reach it, the other nodes do not.
	if _, err := docker(ctx, "network", "connect", front, id); err != nil {
		t.Fatal(err)
	}
	clusterNet := c.project + "_cluster"
	ipBefore := containerIP(ctx, id, clusterNet)
	t.Logf("isolating the leader %s (%s)", leader, ipBefore)
	if out, err := c.script1(ctx, "isolate", leader); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	tFault := r.h.Now()
	// Two more clients on the cut-off node, with a short timeout: each of
	// its writes blocks until the client gives up, so the two it had send
	// few.
	r.addLoadTimeout(ctx, []string{leader}, 2, time.Second)
	sleep(ctx, faulty/2)
	// The setup itself: the cut-off node must still be reachable by its
	// clients, or the minority check below checks nothing.
	if _, err := c.admin(leader).Cluster(ctx); err != nil {
		t.Errorf("the isolated node's admin API is unreachable from the host: %v", err)
	}
	sleep(ctx, faulty/2)
	tHeal := r.h.Now()
	if out, err := c.script1(ctx, "heal", leader); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := docker(ctx, "network", "disconnect", front, id); err != nil {
		t.Error(err)
	}
	if ipAfter := containerIP(ctx, id, clusterNet); ipAfter != ipBefore {
		// Not a failure of strata's, but gossip and raft then have to
		// cope with a peer's new address as well.
		t.Logf("note: %s came back with another address: %s (was %s)", leader, ipAfter, ipBefore)
	}
	c.waitReady(ctx, leader, time.Minute)
	t.Logf("%s reconnected", leader)
	sleep(ctx, settle)
	ops := r.finish(ctx, threeNodes)

	sentToIsolated := 0
	outcomes := map[string]int{}
	for _, op := range ops {
		if op.Call >= tFault && op.Call <= tHeal {
			outcomes[fmt.Sprintf("%s %s %s", op.Node, op.Kind, op.Outcome)]++
		}
		if op.Node != leader || op.Kind == Get || op.Call < tFault+int64(partitionGrace) || op.Call > tHeal {
			continue
		}
		sentToIsolated++
		if op.Outcome == OK && op.Return < tHeal {
			t.Errorf("the isolated node acknowledged a write %v after the cut: %v", time.Duration(op.Call-tFault), op)
		}
	}
	if sentToIsolated == 0 {
		t.Errorf("no write was sent to the isolated node %s: the minority check checked nothing", leader)
	}
	t.Logf("operations during the partition: %v", outcomes)
	t.Logf("%d writes sent to the isolated node after the grace period", sentToIsolated)
	requireProgress(t, ops, others(threeNodes, leader), tFault+int64(electionBound), tHeal,
		"on the majority side of the partition")
	requireProgress(t, ops, threeNodes, tHeal, r.h.Now(), "after the partition healed")
}

// containerIP is the container's address on network net.
func containerIP(ctx context.Context, id, net string) string {
	out, err := docker(ctx, "inspect", "-f", "{{with index .NetworkSettings.Networks \""+net+"\"}}{{.IPAddress}}{{end}}", id)
	if err != nil {
		return err.Error()
	}
	return out
}

// rollingRestart: docker restart each node in turn, waiting for /ready.
func rollingRestart(ctx context.Context, t *testing.T, c *composeCluster) {
	r := startRun(ctx, t, c, "chaos-rolling", threeNodes, false)
	sleep(ctx, warmup)
	for _, s := range threeNodes {
		id := c.container(ctx, s)
		start := time.Now()
		if _, err := docker(ctx, "restart", "-t", "30", id); err != nil {
			t.Fatal(err)
		}
		c.waitReady(ctx, s, time.Minute)
		t.Logf("%s restarted and ready in %v", s, time.Since(start).Round(100*time.Millisecond))
		sleep(ctx, 2*time.Second)
	}
	tHealed := r.h.Now()
	sleep(ctx, settle)
	ops := r.finish(ctx, threeNodes)
	requireProgress(t, ops, threeNodes, tHealed, r.h.Now(), "after the rolling restart")
}

// addAndLeave: start a fourth node, `strata join` it, then `strata leave`
// on strata2; `strata members` must show the new membership.
func addAndLeave(ctx context.Context, t *testing.T, c *composeCluster) {
	r := startRun(ctx, t, c, "chaos-members", threeNodes, false)
	sleep(ctx, warmup)

	if out, err := c.script1(ctx, "compose", "--profile", "extra", "up", "-d", "--no-recreate", "strata4"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c.waitReady(ctx, "strata4", 90*time.Second)
	// strata4 was started with --join; an explicit join must be harmless.
	if out, err := c.cli(ctx, "strata4", "join", "strata1:9101"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r.addLoad(ctx, []string{"strata4"}, 2)
	t.Log("strata4 joined")
	sleep(ctx, 5*time.Second)

	// The node exits after leaving: keep docker from restarting it, which
	// would be a fresh join.
	id2 := c.container(ctx, "strata2")
	if _, err := docker(ctx, "update", "--restart", "no", id2); err != nil {
		t.Fatal(err)
	}
	tLeave := r.h.Now()
	if out, err := c.cli(ctx, "strata2", "leave"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	waitExited(ctx, t, id2, 60*time.Second)
	t.Log("strata2 left and exited")
	sleep(ctx, 10*time.Second)
	final := []string{"strata1", "strata3", "strata4"}
	ops := r.finish(ctx, final)
	requireProgress(t, ops, final, tLeave, r.h.Now(), "after strata2 left")

	ms, out, err := c.members(ctx, "strata1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("strata members:\n%s", out)
	byID := map[string]int{}
	for i, m := range ms {
		byID[m.NodeID] = i
	}
	for _, s := range final {
		i, ok := byID[s]
		if !ok {
			t.Errorf("%s missing from members", s)
			continue
		}
		if m := ms[i]; !m.Voter || m.Gossip != "alive" || !m.Reachable {
			t.Errorf("%s: voter=%v gossip=%s reachable=%v, want a reachable alive voter", s, m.Voter, m.Gossip, m.Reachable)
		}
	}
	if i, ok := byID["strata2"]; ok && (ms[i].Voter || ms[i].RaftRole != "none" || ms[i].Gossip == "alive") {
		t.Errorf("strata2 still in the cluster after leave: %+v", ms[i])
	}
	text, err := c.cli(ctx, "strata1", "members")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range final {
		if !strings.Contains(text, s) {
			t.Errorf("`strata members` does not list %s:\n%s", s, text)
		}
	}
}

// waitExited waits until the container stopped running.
func waitExited(ctx context.Context, t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var state string
	for time.Now().Before(deadline) {
		var err error
		state, err = docker(ctx, "inspect", "-f", "{{.State.Status}}", id)
		if err != nil {
			t.Fatal(err)
		}
		if state == "exited" {
			return
		}
		sleep(ctx, 500*time.Millisecond)
	}
	t.Fatalf("container %s still %s %v after leave", id[:12], state, timeout)
}
