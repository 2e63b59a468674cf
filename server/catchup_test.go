package server

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/fsm"
)

// catchUpObjects is how many objects the snapshot catch-up test writes:
// 100,000 (the figure), or 20,000 under the race detector (which
// makes every apply ~10 times slower; 20,000 still needs a snapshot),
// unless STRATA_CATCHUP_OBJECTS says otherwise.
func catchUpObjects(t *testing.T) int {
	t.Helper()
	v := os.Getenv("STRATA_CATCHUP_OBJECTS")
	if v == "" {
		if raceEnabled() {
			return 20_000
		}
		return 100_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("STRATA_CATCHUP_OBJECTS=%q is not a positive number", v)
	}
	return n
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// fillObjects applies count PutObject commands for bucket through n's raft
// node (not S3: the test is about raft catch-up, and 100,000 S3 PUTs would
// take minutes), from 64 goroutines so raft batches them. Keys are
// prefix + a zero-padded number.
func fillObjects(t *testing.T, n *tnode, bucket, prefix string, count int) {
	t.Helper()
	b, ok, err := n.srv().fsm.Bucket(bucket)
	if err != nil || !ok {
		t.Fatalf("bucket %s: %v %v", bucket, ok, err)
	}
	ctx := ctxFor(t, 2*time.Minute)
	node := n.node()
	now := time.Now().UTC()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				key := fmt.Sprintf("%s%07d", prefix, i)
				res, err := node.Apply(ctx, fsm.CmdPutObject, fsm.PutObject{Object: fsm.Object{
					Bucket: bucket, Key: key, Size: 1, ETag: "0cc175b9c0f1b6a831c399e269772661",
					Owner: b.Owner, ModTime: now,
					Replicas: []fsm.Replica{{BackendID: b.Backings[0].BackendID, Bucket: b.Backings[0].Name, Key: key}},
				}})
				if err == nil && res.Err != nil {
					err = res.Err
				}
				if err != nil {
					errs <- fmt.Errorf("apply put %s: %w", key, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// countObjects lists bucket through n's S3 API (ListObjectsV2, all pages)
// and returns how many keys start with prefix.
func countObjects(t *testing.T, n *tnode, bucket, prefix string) int {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	p := s3.NewListObjectsV2Paginator(n.s3(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	count := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s via %s: %v", bucket, n.id(), err)
		}
		count += len(page.Contents)
	}
	return count
}

// statUint reads one of raft's statistics of n as a number.
func statUint(t *testing.T, n *tnode, name string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(n.node().Stats()[name], 10, 64)
	if err != nil {
		t.Fatalf("raft stat %s of %s: %v", name, n.id(), err)
	}
	return v
}

// TestJoinerCatchesUpBySnapshot: a node joining a cluster that holds
// 100,000 objects (20,000 under -race) and compacted its log is sent a snapshot, installs it,
// and then lists all 100,000 objects through S3.
func TestJoinerCatchesUpBySnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 records; skipped with -short")
	}
	count := catchUpObjects(t)
	began := time.Now()
	// Raft timeouts are relaxed: a two-core machine busy with 64 writers
	// (and snapshots of a growing state file) must not make the leader
	// step down, which is not what this test is about.
	lowTrailing := func(c *Config) {
		c.SnapshotThreshold, c.TrailingLogs, c.SnapshotInterval = 1024, 64, 100*time.Millisecond
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
	}
	c := newCluster(t, 1, lowTrailing)
	n1 := c.nodes[0]
	createBucket(t, n1, "many")
	fillObjects(t, n1, "many", "obj-", count)
	t.Logf("%d objects applied in %s", count, time.Since(began))
	if err := n1.node().Snapshot(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	leaderSnap := statUint(t, n1, "last_snapshot_index")
	if leaderSnap < uint64(count) {
		t.Fatalf("leader's last snapshot is at index %d, before the %d writes", leaderSnap, count)
	}

	cfg := hostConfig(t, "n2", 2, []string{n1.gossipAddr()})
	lowTrailing(&cfg)
	n2 := newNode(t, cfg)
	c.nodes = append(c.nodes, n2)
	joined := time.Now()
	c.waitConverged(c.nodes...)
	t.Logf("joiner caught up in %s", time.Since(joined))
	if got := statUint(t, n2, "last_snapshot_index"); got < leaderSnap {
		t.Fatalf("joiner's last snapshot index %d, the leader's snapshot is at %d: no snapshot was installed", got, leaderSnap)
	}
	if !strings.Contains(n2.log.tail(1<<20), "Installed remote snapshot") {
		t.Fatal("the joiner's raft did not log a remote snapshot install")
	}
	if got := countObjects(t, n2, "many", "obj-"); got != count {
		t.Fatalf("joiner lists %d objects, want %d", got, count)
	}
	t.Logf("total %s", time.Since(began))
}

// TestStoppedNodeCatchesUpFromLog: a follower that was down while 1,000
// writes were committed gets them from the leader's log when it comes back
// (no snapshot exists anywhere to send), and serves all of them.
func TestStoppedNodeCatchesUpFromLog(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	createBucket(t, lead, "down")
	down := c.others(lead)[0]
	down.stop()
	fillObjects(t, lead, "down", "while-down-", 1000)
	want := lead.srv().fsm.AppliedIndex()
	down.start()
	eventually(t, waitTimeout, down.id()+" caught up", func() error {
		if got := down.srv().fsm.AppliedIndex(); got < want {
			return fmt.Errorf("applied %d, the leader %d", got, want)
		}
		return nil
	})
	for _, n := range c.nodes {
		if got := statUint(t, n, "last_snapshot_index"); got != 0 {
			t.Fatalf("%s has a snapshot at %d; the test wants catch-up from the log alone", n.id(), got)
		}
	}
	if strings.Contains(down.log.tail(1<<20), "Installed remote snapshot") {
		t.Fatal("the restarted node installed a snapshot")
	}
	if got := countObjects(t, down, "down", "while-down-"); got != 1000 {
		t.Fatalf("restarted node lists %d objects, want 1000", got)
	}
}
