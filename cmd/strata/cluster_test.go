package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stratagw/strata/admin"
	"github.com/stratagw/strata/admin/admintest"
	"github.com/stratagw/strata/admin/api"
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

// devNode starts a real bootstrapped node in its own directory with the
// given cluster key and returns its admin URL and gossip address.
func devNode(t *testing.T, id, key string) (adminURL, gossipAddr string, env []string) {
	t.Helper()
	dir := t.TempDir()
	creds := []string{"STRATA_ADMIN_ACCESS_KEY=" + admintest.AccessKey, "STRATA_ADMIN_SECRET_KEY=" + admintest.SecretKey}
	p := startServer(t, dir, cleanEnv(append(creds, "STRATA_CLUSTER_KEY="+key)...), "--node-id", id,
		"--s3-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	out := p.banner(t, regexp.MustCompile(`^\s+admin endpoint:`))
	adminURL = match(t, `admin endpoint:\s+(http://127\.0\.0\.1:\d+)`, out)[1]
	env = cleanEnv(append(creds, "STRATA_ADMIN_URL="+adminURL)...)
	r := strata(t, dir, env, "members", "--json")
	var members []api.Member
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &members) != nil || len(members) != 1 || members[0].GossipAddr == "" {
		t.Fatalf("%s: members --json: %+v", id, r)
	}
	return adminURL, members[0].GossipAddr, env
}

// TestJoinRefused: a node is not merged into a cluster that is not its
// own, nor into one with another cluster key, and the operator is told
// why; the node stays a working single-node cluster.
func TestJoinRefused(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))
	_, gossip1, _ := devNode(t, "n1", key)
	_, gossip2, _ := devNode(t, "n2", other)
	_, _, env3 := devNode(t, "n3", key)

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
