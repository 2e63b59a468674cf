package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/admin"
	"github.com/stratagw/strata/admin/admintest"
	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/cluster/gossip"
)

// errOtherCluster stands for gossip's refusal of a member of another
// cluster.
var errOtherCluster = fmt.Errorf("the member at 10.0.0.9:9101 is in cluster c-other, this node in c-admintest: %w", gossip.ErrOtherCluster)

// membershipNode is a real admin API whose membership the test drives,
// with the CLI environment that points at it.
func membershipNode(t *testing.T) (*admintest.Membership, []string) {
	t.Helper()
	m := &admintest.Membership{}
	n := admintest.Start(t, admintest.Options{Membership: m})
	return m, cleanEnv("STRATA_ADMIN_URL="+n.URL, "STRATA_ACCESS_KEY="+admintest.AccessKey, "STRATA_SECRET_KEY="+admintest.SecretKey)
}

var threeMembers = []api.Member{
	{NodeID: "node-1", RaftAddr: "10.0.0.1:9100", GossipAddr: "10.0.0.1:9101", S3URL: "http://10.0.0.1:9000",
		AdminURL: "http://10.0.0.1:9001", RaftRole: api.RoleLeader, Voter: true, Gossip: api.GossipAlive, AppliedIndex: 1234, Reachable: true},
	{NodeID: "node-2", RaftAddr: "10.0.0.2:9100", GossipAddr: "10.0.0.2:9101", S3URL: "http://10.0.0.2:9000",
		AdminURL: "http://10.0.0.2:9001", RaftRole: api.RoleFollower, Voter: true, Gossip: api.GossipAlive, AppliedIndex: 1233, Reachable: true},
	{NodeID: "node-3", RaftAddr: "10.0.0.3:9100", GossipAddr: "10.0.0.3:9101",
		RaftRole: api.RoleFollower, Voter: true, Gossip: api.GossipDead},
	{NodeID: "node-6", RaftAddr: "10.0.0.6:9100", GossipAddr: "10.0.0.6:9101", S3URL: "http://10.0.0.6:9000",
		AdminURL: "http://10.0.0.6:9001", RaftRole: api.RoleNone, Gossip: api.GossipAlive, AppliedIndex: 7, Reachable: true},
}

func TestMembersCommand(t *testing.T) {
	m, env := membershipNode(t)
	m.Set(func(m *admintest.Membership) { m.List = threeMembers })
	dir := t.TempDir()

	r := strata(t, dir, env, "members")
	want := strings.Join([]string{
		`NODE    ROLE      VOTER  GOSSIP  APPLIED  S3                    RAFT           GOSSIP-ADDR`,
		`node-1  leader    yes    alive   1234     http://10.0.0.1:9000  10.0.0.1:9100  10.0.0.1:9101`,
		`node-2  follower  yes    alive   1233     http://10.0.0.2:9000  10.0.0.2:9100  10.0.0.2:9101`,
		`node-3  follower  yes    dead    -        -                     10.0.0.3:9100  10.0.0.3:9101`,
		`node-6  none      no     alive   7        http://10.0.0.6:9000  10.0.0.6:9100  10.0.0.6:9101`,
	}, "\n") + "\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Fatalf("members: code %d stderr %q\n got:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}

	r = strata(t, dir, env, "members", "--json")
	var got []api.Member
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("members --json: %+v (%v)", r, err)
	}
	if !reflect.DeepEqual(got, threeMembers) {
		t.Fatalf("members --json:\n got %+v\nwant %+v", got, threeMembers)
	}

	// --url works as well as the environment.
	var url string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "STRATA_ADMIN_URL="); ok {
			url = v
		}
	}
	r = strata(t, dir, cleanEnv("STRATA_ACCESS_KEY="+admintest.AccessKey, "STRATA_SECRET_KEY="+admintest.SecretKey),
		"members", "--url", url, "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"node_id": "node-6"`) {
		t.Fatalf("members --url: %+v", r)
	}
}

func TestJoinCommand(t *testing.T) {
	m, env := membershipNode(t)
	dir := t.TempDir()
	r := strata(t, dir, env, "join", "10.0.0.1:9101", "node-2.example,[fd00::3]:7946", "fd00::4", "node-5")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("join: %+v", r)
	}
	if !regexp.MustCompile(`^node node-1 joined cluster c-admintest\n  raft state:    Leader\n  leader:        node-1 \(127\.0\.0\.1:\d+\)\n  applied index: \d+\n  ready:         yes\n$`).MatchString(r.stdout) {
		t.Fatalf("join output:\n%s", r.stdout)
	}
	joins, _, _ := m.Calls()
	want := [][]string{{"10.0.0.1:9101", "node-2.example:9101", "[fd00::3]:7946", "[fd00::4]:9101", "node-5:9101"}}
	if !reflect.DeepEqual(joins, want) {
		t.Fatalf("joined through %v, want %v", joins, want)
	}

	r = strata(t, dir, env, "join", "--json", "10.0.0.1:9101")
	var view api.Cluster
	if err := json.Unmarshal([]byte(r.stdout), &view); err != nil || r.code != 0 || view.ClusterID != admintest.ClusterID {
		t.Fatalf("join --json: %+v (%v)", r, err)
	}

	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"join", "10.0.0.1:0"}, "strata: address \"10.0.0.1:0\": port \"0\" is not a number from 1 to 65535\n"},
		{[]string{"join", ","}, "strata: addrs is required: the gossip HOST:PORT of at least one member of the cluster to join\n"},
	} {
		r := strata(t, dir, env, tc.args...)
		if r.code != 1 || r.stderr != tc.stderr || r.stdout != "" {
			t.Errorf("%v: code %d stdout %q stderr %q, want %q", tc.args, r.code, r.stdout, r.stderr, tc.stderr)
		}
	}
	if r := strata(t, dir, env, "join"); r.code != 1 || !strings.Contains(r.stderr, `expected "<HOST:PORT> ..."`) {
		t.Errorf("join without args: %+v", r)
	}
	if joins, _, _ := m.Calls(); len(joins) != 2 {
		t.Fatalf("refused joins reached the membership: %v", joins)
	}
}

func TestLeaveAndRemoveCommands(t *testing.T) {
	m, env := membershipNode(t)
	dir := t.TempDir()
	r := strata(t, dir, env, "leave")
	if r.code != 0 || r.stdout != "node node-1 left the cluster\n" || r.stderr != "" {
		t.Fatalf("leave: %+v", r)
	}
	r = strata(t, dir, env, "remove", "node-3")
	if r.code != 0 || r.stdout != "node node-3 removed\n" || r.stderr != "" {
		t.Fatalf("remove: %+v", r)
	}
	if _, leaves, removes := m.Calls(); leaves != 1 || !reflect.DeepEqual(removes, []string{"node-3"}) {
		t.Fatalf("membership saw %d leaves, removes %v", leaves, removes)
	}
	if r := strata(t, dir, env, "remove"); r.code != 1 || !strings.Contains(r.stderr, `expected "<NODE-ID>"`) {
		t.Errorf("remove without args: %+v", r)
	}
}

// TestClusterCommandErrors: each failure the node reports reaches the
// operator as one readable line and exit status 1.
func TestClusterCommandErrors(t *testing.T) {
	m, env := membershipNode(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		set    func(m *admintest.Membership)
		args   []string
		stderr string
	}{
		{"remove alive", func(m *admintest.Membership) { m.RemoveErr = fmt.Errorf("gossip: %w", admin.ErrMemberAlive) },
			[]string{"remove", "node-2"}, "node node-2 is alive; stop it or run `strata leave` on it first"},
		{"remove unknown", func(m *admintest.Membership) { m.RemoveErr = admin.ErrUnknownNode },
			[]string{"remove", "node-9"}, "node node-9 is not a member of the cluster"},
		{"join other cluster", func(m *admintest.Membership) { m.JoinErr = errOtherCluster },
			[]string{"join", "10.0.0.9:9101"}, "join [10.0.0.9:9101]: " + errOtherCluster.Error()},
		{"leave without leader", func(m *admintest.Membership) { m.LeaveErr = fmt.Errorf("transfer leadership: %w", cluster.ErrNoLeader) },
			[]string{"leave"}, "leave: transfer leadership: no raft leader; retry later"},
		{"multi-line error", func(m *admintest.Membership) {
			m.JoinErr = errors.New("join 10.0.0.9:9101: 1 error occurred:\n\t* failed to join 10.0.0.9:9101: connection refused\n\n")
		}, []string{"join", "10.0.0.9:9101"}, "join [10.0.0.9:9101]: join 10.0.0.9:9101: 1 error occurred: * failed to join 10.0.0.9:9101: connection refused"},
		{"members failing", func(m *admintest.Membership) {
			m.MembersErr = fmt.Errorf("raft configuration: %w", cluster.ErrShutdown)
		},
			[]string{"members"}, "list members: raft configuration: raft node is shut down; retry later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.Set(tc.set)
			r := strata(t, dir, env, tc.args...)
			if r.code != 1 || r.stdout != "" || r.stderr != "strata: "+tc.stderr+"\n" {
				t.Fatalf("code %d stdout %q\nstderr %q\nwant   %q", r.code, r.stdout, r.stderr, "strata: "+tc.stderr+"\n")
			}
		})
	}
}

func TestClusterCommandsWithoutClustering(t *testing.T) {
	n := admintest.Start(t, admintest.Options{})
	env := cleanEnv("STRATA_ADMIN_URL="+n.URL, "STRATA_ADMIN_ACCESS_KEY="+admintest.AccessKey, "STRATA_ADMIN_SECRET_KEY="+admintest.SecretKey)
	for _, args := range [][]string{{"members"}, {"join", "10.0.0.1:9101"}, {"leave"}, {"remove", "node-2"}} {
		r := strata(t, t.TempDir(), env, args...)
		if r.code != 1 || r.stderr != "strata: clustering is not enabled on this node\n" {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

func TestClusterCommandsNodeDown(t *testing.T) {
	url := "http://" + freePort(t)
	env := cleanEnv("STRATA_ADMIN_URL="+url, "STRATA_ACCESS_KEY=AK", "STRATA_SECRET_KEY=SKSKSKSKSK")
	want := "strata: cannot reach admin API at " + url + ": connection refused (is `strata server` running?)\n"
	for _, args := range [][]string{{"members"}, {"join", "10.0.0.1:9101"}, {"leave"}, {"remove", "node-2"}} {
		r := strata(t, t.TempDir(), env, args...)
		if r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("%v: code %d stderr %q stdout %q", args, r.code, r.stderr, r.stdout)
		}
	}
	r := strata(t, t.TempDir(), cleanEnv("STRATA_ADMIN_URL="+url), "members")
	if r.code != 1 || !strings.Contains(r.stderr, "no admin credential: set STRATA_ACCESS_KEY") {
		t.Fatalf("no credential: %+v", r)
	}
}

// clusterNode is a real `strata server` process of a cluster test.
type clusterNode struct {
	*process
	adminURL string
	env      []string // the CLI environment aimed at this node
	client   *client.Client
}

// startClusterNode starts a real node in its own directory with the given
// cluster key; extra are more server flags (--join).
func startClusterNode(t *testing.T, id, key string, extra ...string) *clusterNode {
	t.Helper()
	creds := []string{"STRATA_ADMIN_ACCESS_KEY=" + admintest.AccessKey, "STRATA_ADMIN_SECRET_KEY=" + admintest.SecretKey}
	args := append([]string{"--node-id", id, "--s3-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--raft-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}, extra...)
	p := startServer(t, t.TempDir(), cleanEnv(append(creds, "STRATA_CLUSTER_KEY="+key)...), args...)
	out := p.banner(t, regexp.MustCompile(`^\s+admin endpoint:`))
	adminURL := match(t, `admin endpoint:\s+(http://127\.0\.0\.1:\d+)`, out)[1]
	c, err := client.New(adminURL, admintest.AccessKey, admintest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	return &clusterNode{process: p, adminURL: adminURL, env: cleanEnv(append(creds, "STRATA_ADMIN_URL="+adminURL)...), client: c}
}

// devNode starts a bootstrapped single node and returns it with its
// gossip address.
func devNode(t *testing.T, id, key string) (*clusterNode, string) {
	t.Helper()
	n := startClusterNode(t, id, key)
	r := strata(t, t.TempDir(), n.env, "members", "--json")
	var members []api.Member
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &members) != nil || len(members) != 1 || members[0].GossipAddr == "" {
		t.Fatalf("%s: members --json: %+v", id, r)
	}
	return n, members[0].GossipAddr
}

// waitMembers polls the node's member list until ok accepts it.
func waitMembers(t *testing.T, n *clusterNode, what string, ok func(map[string]api.Member) bool) map[string]api.Member {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		list, err := n.client.Members(ctx)
		cancel()
		byID := map[string]api.Member{}
		for _, m := range list {
			byID[m.NodeID] = m
		}
		if err == nil && ok(byID) {
			return byID
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: members %+v, err %v", what, list, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exited waits for the node's process to end and returns its exit error.
func (n *clusterNode) exited(t *testing.T) error {
	t.Helper()
	select {
	case err := <-n.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("node did not exit\nstderr:\n%s", n.stderr.String())
		return nil
	}
}

// TestJoinRefused: a node is not merged into a cluster that is not its
// own, nor into one with another cluster key, and the operator is told
// why; the node stays a working single-node cluster.
func TestJoinRefused(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))
	_, gossip1 := devNode(t, "n1", key)
	_, gossip2 := devNode(t, "n2", other)
	n3, _ := devNode(t, "n3", key)
	env3 := n3.env

	for _, tc := range []struct {
		name, addr, want string
	}{
		{"other cluster", gossip1, "another cluster"},
		{"other key", gossip2, "different cluster key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := strata(t, t.TempDir(), env3, "join", tc.addr)
			if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "strata: join ["+tc.addr+"]: ") || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("join %s: %+v", tc.addr, r)
			}
		})
	}
	r := strata(t, t.TempDir(), env3, "members", "--json")
	var members []api.Member
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &members) != nil || len(members) != 1 || members[0].NodeID != "n3" ||
		members[0].RaftRole != api.RoleLeader {
		t.Fatalf("n3 after refused joins: %+v", r)
	}
}

// TestMembershipCommandsOnACluster drives join, members, remove and leave
// against a real three-node cluster.
func TestMembershipCommandsOnACluster(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	n1, gossip1 := devNode(t, "n1", key)
	n2 := startClusterNode(t, "n2", key, "--join", gossip1)
	n3 := startClusterNode(t, "n3", key, "--join", gossip1)
	all := func(ms map[string]api.Member) bool {
		for _, id := range []string{"n1", "n2", "n3"} {
			if m := ms[id]; !m.Voter || m.Gossip != api.GossipAlive || !m.Reachable || m.RaftRole == api.RoleNone {
				return false
			}
		}
		return len(ms) == 3
	}
	waitMembers(t, n1, "three alive voters", all)
	dir := t.TempDir()

	// Any node lists the same three, one of them the leader.
	r := strata(t, dir, n2.env, "members")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 4 || len(regexp.MustCompile(`(?m)^n\d\s+leader\s+yes\s+alive\s`).FindAllString(r.stdout, -1)) != 1 {
		t.Fatalf("members on n2: %+v", r)
	}
	// Joining again is harmless and reports the cluster the node is in.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	view, err := n1.client.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r = strata(t, dir, n2.env, "join", gossip1)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "node n2 joined cluster "+view.ClusterID+"\n") {
		t.Fatalf("join again: %+v", r)
	}

	// A node that just died is still alive to gossip: remove refuses it.
	_ = n3.cmd.Process.Kill()
	_ = n3.exited(t)
	r = strata(t, dir, n1.env, "remove", "n3")
	if r.code != 1 || r.stderr != "strata: node n3 is alive; stop it or run `strata leave` on it first\n" {
		t.Fatalf("remove n3 while gossip has it alive: %+v", r)
	}
	waitMembers(t, n1, "n3 dead", func(ms map[string]api.Member) bool { return ms["n3"].Gossip == api.GossipDead })
	r = strata(t, dir, n1.env, "remove", "n3")
	if r.code != 0 || r.stdout != "node n3 removed\n" {
		t.Fatalf("remove n3: %+v", r)
	}
	waitMembers(t, n1, "n3 out of raft", func(ms map[string]api.Member) bool {
		m, ok := ms["n3"] // gossip may have forgotten it already
		return !ok || (!m.Voter && m.RaftRole == api.RoleNone)
	})

	// n2 leaves gracefully: the answer comes back, then the process exits.
	r = strata(t, dir, n2.env, "leave")
	if r.code != 0 || r.stdout != "node n2 left the cluster\n" {
		t.Fatalf("leave n2: %+v", r)
	}
	if err := n2.exited(t); err != nil {
		t.Fatalf("n2 after leave: %v\nstderr:\n%s", err, n2.stderr.String())
	}
	ms := waitMembers(t, n1, "n2 gone", func(ms map[string]api.Member) bool {
		m, ok := ms["n2"]
		return !ok || (!m.Voter && m.RaftRole == api.RoleNone && m.Gossip == api.GossipLeft)
	})
	if m := ms["n1"]; m.RaftRole != api.RoleLeader || !m.Voter {
		t.Fatalf("n1 after the others went: %+v", m)
	}
}
