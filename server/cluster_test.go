package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/cluster/gossip"
)

// TestClusterForms: three nodes on three loopback hosts form one cluster
// of three voters with one leader, and every node's members listing
// shows all three alive, reachable voters with their applied index.
func TestClusterForms(t *testing.T) {
	start := time.Now()
	c := newCluster(t, 3, nil)
	t.Logf("formed in %s", time.Since(start))
	lead := c.leader()
	for _, n := range c.nodes {
		if n != lead && n.node().IsLeader() {
			t.Fatalf("two leaders: %s and %s", lead.id(), n.id())
		}
	}
	// Gossip spreads the news of n3 to n2 (both joined through n1) within
	// a few probe rounds; the listing converges shortly after forming.
	for _, n := range c.nodes {
		eventually(t, 5*time.Second, "members via "+n.id(), func() error {
			ms, err := n.admin().Members(ctxFor(t, 10*time.Second))
			if err != nil {
				return err
			}
			if err := checkMembers(ms, c.nodes, lead); err != nil {
				return fmt.Errorf("%w\n%+v", err, ms)
			}
			return nil
		})
	}
	t.Logf("formed and listed in %s", time.Since(start))
}

// checkMembers checks a members listing: exactly nodes, all alive,
// reachable voters with an applied index and their own addresses, and
// lead the only leader.
func checkMembers(ms []api.Member, nodes []*tnode, lead *tnode) error {
	if len(ms) != len(nodes) {
		return fmt.Errorf("%d members, want %d", len(ms), len(nodes))
	}
	byID := map[string]api.Member{}
	for _, m := range ms {
		byID[m.NodeID] = m
	}
	for _, n := range nodes {
		m, ok := byID[n.id()]
		if !ok {
			return fmt.Errorf("%s missing", n.id())
		}
		wantRole := api.RoleFollower
		if n == lead {
			wantRole = api.RoleLeader
		}
		switch {
		case !m.Voter:
			return fmt.Errorf("%s is not a voter", n.id())
		case m.Gossip != api.GossipAlive:
			return fmt.Errorf("%s gossip state %q", n.id(), m.Gossip)
		case !m.Reachable || m.AppliedIndex == 0:
			return fmt.Errorf("%s reachable=%v applied=%d", n.id(), m.Reachable, m.AppliedIndex)
		case m.RaftRole != wantRole:
			return fmt.Errorf("%s role %q, want %q", n.id(), m.RaftRole, wantRole)
		case m.RaftAddr != n.cfg.RaftAddr:
			return fmt.Errorf("%s raft address %q, want %q", n.id(), m.RaftAddr, n.cfg.RaftAddr)
		case m.GossipAddr != n.cfg.GossipAddr:
			return fmt.Errorf("%s gossip address %q, want %q", n.id(), m.GossipAddr, n.cfg.GossipAddr)
		case m.S3URL != "http://"+n.cfg.S3Addr || m.AdminURL != "http://"+n.cfg.AdminAddr:
			return fmt.Errorf("%s urls %q %q, want %q %q", n.id(), m.S3URL, m.AdminURL, n.cfg.S3Addr, n.cfg.AdminAddr)
		}
	}
	return nil
}

// putObject PUTs body at bucket/key through n.
func putObject(ctx context.Context, n *tnode, bucket, key string, body []byte) error {
	_, err := n.s3().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		return fmt.Errorf("put %s/%s via %s: %w", bucket, key, n.id(), err)
	}
	return nil
}

// getObject GETs bucket/key through n.
func getObject(ctx context.Context, n *tnode, bucket, key string) ([]byte, error) {
	out, err := n.s3().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get %s/%s via %s: %w", bucket, key, n.id(), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s/%s via %s: %w", bucket, key, n.id(), err)
	}
	return b, nil
}

// createBucket creates bucket through n.
func createBucket(t testing.TB, n *tnode, bucket string) {
	t.Helper()
	if _, err := n.s3().CreateBucket(ctxFor(t, 10*time.Second), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s via %s: %v", bucket, n.id(), err)
	}
}

// TestReadYourWritesAcrossFollowers: a write acknowledged by one follower
// is visible at once on the other follower (strong reads), for new keys,
// overwrites and deletes, alternating which follower writes.
func TestReadYourWritesAcrossFollowers(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	fs := c.others(lead)
	createBucket(t, fs[0], "ryw")
	ctx := ctxFor(t, time.Minute)
	const iterations = 60
	began := time.Now()
	defer func() { t.Logf("%d write/read rounds in %s", iterations, time.Since(began)) }()
	for i := 0; i < iterations; i++ {
		w, r := fs[i%2], fs[(i+1)%2]
		key := fmt.Sprintf("k%d", i%20) // later rounds overwrite
		body := []byte(fmt.Sprintf("value %d written via %s", i, w.id()))
		if err := putObject(ctx, w, "ryw", key, body); err != nil {
			t.Fatal(err)
		}
		got, err := getObject(ctx, r, "ryw", key)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("round %d: %s read %q right after %s wrote %q", i, r.id(), got, w.id(), body)
		}
	}
	// A delete through one follower is visible on the other at once.
	if _, err := fs[0].s3().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ryw"), Key: aws.String("k0")}); err != nil {
		t.Fatal(err)
	}
	_, err := getObject(ctx, fs[1], "ryw", "k0")
	if err == nil || !strings.Contains(err.Error(), "NoSuchKey") {
		t.Fatalf("get after delete on the other follower: %v", err)
	}
	// The leader agrees.
	if got, err := getObject(ctx, lead, "ryw", "k1"); err != nil || !bytes.Contains(got, []byte("value 41")) {
		t.Fatalf("leader read %q, %v", got, err)
	}
}

// TestLeaderLossAndRestart: closing the leader elects a new one among the
// survivors, which keep taking writes; the old leader restarts on its data
// directory and addresses, catches up with what it missed and serves it.
func TestLeaderLossAndRestart(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.leader()
	survivors := c.others(old)
	createBucket(t, survivors[0], "loss")
	ctx := ctxFor(t, time.Minute)
	if err := putObject(ctx, survivors[0], "loss", "before", []byte("before")); err != nil {
		t.Fatal(err)
	}
	old.stop()
	lead := c.leader(survivors...)
	t.Logf("leader %s closed; %s leads now", old.id(), lead.id())
	for i, n := range survivors {
		// The first write after the election may meet a follower that has
		// not heard of the new leader yet; it waits (bounded) for one.
		if err := putObject(ctx, n, "loss", fmt.Sprintf("after-%d", i), []byte(n.id())); err != nil {
			t.Fatal(err)
		}
	}
	want := lead.srv().fsm.AppliedIndex()
	old.start()
	eventually(t, waitTimeout, old.id()+" caught up", func() error {
		if got := old.srv().fsm.AppliedIndex(); got < want {
			return fmt.Errorf("applied %d, the leader had %d", got, want)
		}
		return nil
	})
	c.waitConverged(c.nodes...)
	for i, n := range survivors {
		got, err := getObject(ctx, old, "loss", fmt.Sprintf("after-%d", i))
		if err != nil || string(got) != n.id() {
			t.Fatalf("restarted %s reads %q, %v; want %q", old.id(), got, err, n.id())
		}
	}
	// The restarted node takes writes again (as a follower now).
	if err := putObject(ctx, old, "loss", "back", []byte("back")); err != nil {
		t.Fatal(err)
	}
	if got, err := getObject(ctx, lead, "loss", "back"); err != nil || string(got) != "back" {
		t.Fatalf("leader reads %q, %v", got, err)
	}
}

// writeLog records which writes the load generators got acknowledged.
type writeLog struct {
	mu     sync.Mutex
	acked  map[string][]byte
	failed int
}

func (wl *writeLog) record(key string, val []byte, err error) {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	if err == nil {
		wl.acked[key] = val
	} else {
		wl.failed++
	}
}

// counts returns how many writes were acknowledged and failed so far.
func (wl *writeLog) counts() (acked, failed int) {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	return len(wl.acked), wl.failed
}

// load writes unique keys (prefix + counter) to the running nodes of c,
// round robin, until stop is closed. Every write has its own key, so an
// acknowledged one must be readable with exactly its value at the end
// whatever else happened; a failed one may or may not be there.
func load(ctx context.Context, c *tcluster, bucket, prefix string, wl *writeLog, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		n := c.nodes[i%len(c.nodes)]
		if n.running() == nil {
			continue
		}
		key := fmt.Sprintf("%s-%05d", prefix, i)
		val := []byte(fmt.Sprintf("%s via %s", key, n.id()))
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := putObject(wctx, n, bucket, key, val)
		cancel()
		wl.record(key, val, err)
	}
}

// TestRollingRestartKeepsAcknowledgedWrites restarts every node in turn
// under a light write load: writes are acknowledged while each node is
// down, none acknowledged is lost, and every node reads every one of them
// back at the end.
func TestRollingRestartKeepsAcknowledgedWrites(t *testing.T) {
	c := newCluster(t, 3, nil)
	createBucket(t, c.nodes[0], "rolling")
	ctx := ctxFor(t, 2*time.Minute)
	const writers = 4
	wl := &writeLog{acked: map[string][]byte{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			load(ctx, c, "rolling", fmt.Sprintf("w%d", w), wl, stop)
		}()
	}
	stopLoad := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopLoad()
	// waitAcks waits until the load got more writes acknowledged.
	waitAcks := func(what string, more int) {
		before, _ := wl.counts()
		eventually(t, waitTimeout, what, func() error {
			if now, failed := wl.counts(); now < before+more {
				return fmt.Errorf("%d new writes acknowledged (%d failed in all), want %d", now-before, failed, more)
			}
			return nil
		})
	}
	waitAcks("writes before the restarts", 10)
	for _, n := range c.nodes {
		wasLeader := n.node().IsLeader()
		n.stop()
		waitAcks("writes while "+n.id()+" is down", 10)
		n.start()
		c.waitConverged(c.nodes...)
		t.Logf("restarted %s (leader: %v)", n.id(), wasLeader)
	}
	waitAcks("writes after the restarts", 10)
	stopLoad()
	acked, failed := wl.counts()
	t.Logf("%d writes acknowledged, %d failed", acked, failed)
	for _, n := range c.nodes {
		for key, val := range wl.acked {
			got, err := getObject(ctx, n, "rolling", key)
			if err != nil {
				t.Fatalf("acknowledged write lost: %v", err)
			}
			if !bytes.Equal(got, val) {
				t.Fatalf("%s reads %q at %s, acknowledged %q", n.id(), got, key, val)
			}
		}
	}
}

// waitDone waits for a node's Done channel.
func waitDone(t testing.TB, n *tnode, d time.Duration) {
	t.Helper()
	select {
	case <-n.srv().Done():
	case <-time.After(d):
		t.Fatalf("%s did not stop within %s", n.id(), d)
	}
}

// TestLeave: a follower leaves (it answers, is out of the raft
// configuration, its Done closes); then the leader leaves (leadership
// moves first); the remaining node serves writes; the last voter cannot
// leave and says why.
func TestLeave(t *testing.T) {
	c := newCluster(t, 3, nil)
	createBucket(t, c.nodes[0], "leave")
	ctx := ctxFor(t, time.Minute)

	follower := c.others(c.leader())[0]
	res, err := follower.admin().Leave(ctx)
	if err != nil {
		t.Fatalf("leave %s: %v", follower.id(), err)
	}
	if res.NodeID != follower.id() {
		t.Fatalf("leave answered %+v", res)
	}
	waitDone(t, follower, 10*time.Second)
	if err := follower.srv().Err(); err != nil {
		t.Fatalf("a graceful leave ended with %v", err)
	}
	follower.stop()
	rest := c.others(follower)
	c.waitConverged(rest...)

	lead := c.leader(rest...)
	other := c.others(follower, lead)[0]
	if _, err := lead.admin().Leave(ctx); err != nil {
		t.Fatalf("leave leader %s: %v", lead.id(), err)
	}
	waitDone(t, lead, 10*time.Second)
	if !strings.Contains(lead.log.tail(1<<20), "leadership handed over before leaving") {
		t.Fatalf("leader %s left without handing over leadership", lead.id())
	}
	lead.stop()
	c.waitConverged(other)
	if !other.node().IsLeader() {
		t.Fatalf("%s is not the leader after the others left", other.id())
	}
	if err := putObject(ctx, other, "leave", "after", []byte("x")); err != nil {
		t.Fatal(err)
	}

	_, err = other.admin().Leave(ctx)
	if err == nil || !strings.Contains(err.Error(), "only voter") {
		t.Fatalf("leave of the last voter: %v", err)
	}
	select {
	case <-other.srv().Done():
		t.Fatal("the last voter stopped after a refused leave")
	default:
	}
	if err := putObject(ctx, other, "leave", "still", []byte("x")); err != nil {
		t.Fatalf("write after the refused leave: %v", err)
	}
}

// apiStatus returns the HTTP status of an admin API error (0 otherwise).
func apiStatus(err error) int {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// TestRemove: a follower closed without leaving is removed through another
// node's admin API once gossip sees it gone; removing an alive node is
// refused with 409 and removing an unknown id is 404.
func TestRemove(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxFor(t, time.Minute)
	lead := c.leader()
	fs := c.others(lead)
	gone, asker := fs[0], fs[1]

	err := asker.admin().Remove(ctx, lead.id())
	if apiStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "alive") {
		t.Fatalf("remove of the alive leader: %v", err)
	}
	err = asker.admin().Remove(ctx, "no-such-node")
	if apiStatus(err) != http.StatusNotFound {
		t.Fatalf("remove of an unknown node: %v", err)
	}

	gone.stop()
	// Until gossip declares it dead the node counts as alive (suspect).
	eventually(t, waitTimeout, "remove "+gone.id(), func() error {
		err := asker.admin().Remove(ctx, gone.id())
		if err != nil && apiStatus(err) != http.StatusConflict {
			t.Fatalf("remove of a stopped node: %v", err)
		}
		return err
	})
	c.waitConverged(lead, asker)
	createBucket(t, asker, "after-remove")
	// Removing it again: it is no longer a member.
	if err := asker.admin().Remove(ctx, gone.id()); apiStatus(err) != http.StatusNotFound {
		t.Fatalf("second remove: %v", err)
	}
}

// TestJoinThroughAdminAPI: a node started without --join and without
// bootstrapping joins through `strata join` (the admin API) and is a voter
// when the call returns.
func TestJoinThroughAdminAPI(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxFor(t, time.Minute)

	cfg := hostConfig(t, "n4", 4, nil)
	cfg.Bootstrap = false
	n4 := newNode(t, cfg)
	addrs := []string{c.nodes[0].gossipAddr()}
	// A node without raft state has no credential in its FSM: its admin
	// API accepts the admin key pair it was started with until it joins.
	cl, err := n4.admin().Join(ctx, addrs)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if cl.NodeID != "n4" || cl.ClusterID == "" {
		t.Fatalf("join answered %+v", cl)
	}
	// The join answers once n4 is in the configuration (as a non-voter);
	// the autopilot promotes it once it has caught up and stayed healthy.
	if got := serverIDs(t, c.nodes[0]); !containsServer(got, "n4") {
		t.Fatalf("right after join n4 is not in the configuration: %+v", got)
	}
	eventually(t, waitTimeout, "n4 promoted to voter", func() error {
		return sameVoters(serverIDs(t, c.nodes[0]), append(c.nodes, n4))
	})
	c.nodes = append(c.nodes, n4)
	c.waitConverged(c.nodes...)
	createBucket(t, n4, "via-n4")
}

// TestJoinOtherClusterRefused: a node that bootstrapped its own cluster
// cannot join another one: the admin API answers 409 with a message about
// the other cluster, and neither cluster takes the other's node.
func TestJoinOtherClusterRefused(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxFor(t, time.Minute)
	other := newNode(t, hostConfig(t, "x1", 5, nil))
	eventually(t, waitTimeout, "cluster ids in gossip", func() error {
		if other.srv().status().ClusterID == "" || c.nodes[0].srv().status().ClusterID == "" {
			return errors.New("a cluster id is not published yet")
		}
		return nil
	})
	_, err := other.admin().Join(ctx, []string{c.nodes[0].gossipAddr()})
	if apiStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "cluster") {
		t.Fatalf("join of another cluster's node: %v", err)
	}
	t.Logf("refused: %v", err)
	time.Sleep(time.Second) // give a wrongly merged gossip time to show
	if err := sameVoters(serverIDs(t, c.leader()), c.nodes); err != nil {
		t.Fatalf("the cluster changed: %v", err)
	}
	if got := serverIDs(t, other); len(got) != 1 || got[0].ID != "x1" {
		t.Fatalf("the other cluster's configuration changed: %+v", got)
	}
	for _, n := range c.nodes {
		for _, m := range n.srv().cnet.gossip.Members() {
			if m.Name == "x1" && m.State == gossip.StateAlive {
				t.Fatalf("x1 is an alive gossip member of %s's cluster", n.id())
			}
		}
	}
	for _, m := range other.srv().cnet.gossip.Members() {
		if m.Name != "x1" && m.State == gossip.StateAlive {
			t.Fatalf("%s is an alive gossip member of x1's cluster", m.Name)
		}
	}
}

// TestWrongClusterKeyJoinStops: a node with another cluster key cannot
// join; it stops (Done) with an error that says the key differs, and the
// cluster does not add it.
func TestWrongClusterKeyJoinStops(t *testing.T) {
	c := newCluster(t, 3, nil)
	cfg := hostConfig(t, "bad", 4, []string{c.nodes[0].gossipAddr()})
	cfg.ClusterKey = []byte("another-key-another-key-another-")
	bad := newNode(t, cfg)
	waitDone(t, bad, waitTimeout)
	err := bad.srv().Err()
	if err == nil || !strings.Contains(err.Error(), "different cluster key") {
		t.Fatalf("Err() = %v, want a different-cluster-key error", err)
	}
	t.Logf("stopped with: %v", err)
	if err := sameVoters(serverIDs(t, c.leader()), c.nodes); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.nodes[0].srv().cnet.gossip.Members() {
		if m.Name == "bad" {
			t.Fatalf("the node with the wrong key is a gossip member: %+v", m)
		}
	}
}

// TestMinorityAnswers503: a node cut off from its quorum (the two others
// stopped) acknowledges no write and serves no strong read: both wait at
// most about the apply timeout and fail with 503; once a peer is back the
// write goes through and the failed one is not visible.
func TestMinorityAnswers503(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.ApplyTimeout = time.Second })
	createBucket(t, c.nodes[0], "minority")
	ctx := ctxFor(t, time.Minute)
	// alone is a follower: a write it forwards never reaches a log. (A
	// leader cut off would append it, and it could commit later: a 503 is
	// ambiguous.)
	lead := c.leader()
	alone := c.others(lead)[0]
	back := c.others(alone)[0]
	for _, n := range c.others(alone) {
		n.stop()
	}
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"put", func() error { return putObject(ctx, alone, "minority", "lost", []byte("x")) }},
		{"get", func() error { _, err := getObject(ctx, alone, "minority", "lost"); return err }},
	} {
		began := time.Now()
		err := op.do()
		took := time.Since(began)
		if err == nil || !strings.Contains(err.Error(), "StatusCode: 503") {
			t.Fatalf("%s on a node without quorum: %v", op.name, err)
		}
		if took > 5*time.Second {
			t.Fatalf("%s on a node without quorum took %s", op.name, took)
		}
		t.Logf("%s refused after %s", op.name, took.Round(time.Millisecond))
	}
	back.start()
	c.leader(back, alone)
	if err := putObject(ctx, alone, "minority", "kept", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if _, err := getObject(ctx, back, "minority", "lost"); err == nil || !strings.Contains(err.Error(), "NoSuchKey") {
		t.Fatalf("the refused write is visible: %v", err)
	}
}
