package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratagw/strata/fsm"
)

// directLeaderClient reaches the leader by calling its Node in-process: a
// stand-in for the cluster RPC of the multi-node issue, with real raft on
// both sides.
type directLeaderClient struct {
	mu    sync.Mutex
	nodes map[string]*Node // by raft address
}

func (c *directLeaderClient) node(addr string) (*Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[addr]
	if !ok {
		return nil, fmt.Errorf("no node at %s", addr)
	}
	return n, nil
}

func (c *directLeaderClient) Apply(ctx context.Context, addr string, cmd []byte) (fsm.Result, error) {
	n, err := c.node(addr)
	if err != nil {
		return fsm.Result{}, err
	}
	res, err := n.ApplyLocal(ctx, cmd)
	var fe *fsm.Error
	if errors.As(err, &fe) {
		return res, nil // travels in Result.Err, like over the wire
	}
	return res, err
}

func (c *directLeaderClient) ReadIndex(ctx context.Context, addr string) (uint64, error) {
	n, err := c.node(addr)
	if err != nil {
		return 0, err
	}
	return n.ReadIndex(ctx)
}

func (c *directLeaderClient) RemoveServer(ctx context.Context, addr, id string) error {
	n, err := c.node(addr)
	if err != nil {
		return err
	}
	return n.RemoveServerLocal(ctx, id)
}

// twoNodes starts a leader and adds a second node as a voter.
func twoNodes(t *testing.T, client LeaderClient) (leader, follower *testNode) {
	t.Helper()
	leader = startNode(t, t.TempDir())
	follower = openNode(t, t.TempDir(), func(c *Config) {
		c.NodeID = "node-2"
		c.LeaderClient = client
	})
	f := leader.raft.AddVoter("node-2", follower.transport.LocalAddr(), 0, 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	waitFor(t, 10*time.Second, "follower knows the leader", func() bool {
		id, _ := follower.Leader()
		return id == "node-1"
	})
	return leader, follower
}

// TestFollowerForwardsWrites: through a LeaderClient a follower's Apply
// reaches the leader and returns only once the follower's own state has
// the write; a follower's read barrier sees the leader's acknowledged
// writes. Without a LeaderClient the follower names the leader.
func TestFollowerForwardsWrites(t *testing.T) {
	client := &directLeaderClient{nodes: map[string]*Node{}}
	leader, follower := twoNodes(t, client)
	client.nodes[string(leader.transport.LocalAddr())] = leader.Node
	seed(t, leader, "b")

	for i := range 50 {
		key := fmt.Sprintf("via-follower-%d", i)
		if _, err := follower.Apply(context.Background(), fsm.CmdPutObject, fsm.PutObject{Object: objectRecord("b", key, i)}); err != nil {
			t.Fatalf("forwarded Apply: %v", err)
		}
		if _, ok, _ := follower.fsm.Object("b", key); !ok {
			t.Fatalf("%s not visible on the follower right after its Apply returned", key)
		}
		key = fmt.Sprintf("via-leader-%d", i)
		leader.mustApply(t, fsm.CmdPutObject, fsm.PutObject{Object: objectRecord("b", key, i)})
		if err := follower.ReadBarrier(context.Background()); err != nil {
			t.Fatalf("follower ReadBarrier: %v", err)
		}
		if _, ok, _ := follower.fsm.Object("b", key); !ok {
			t.Fatalf("%s acknowledged by the leader but not visible on the follower after a barrier", key)
		}
	}
	res, err := follower.Apply(context.Background(), fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: bucketRecord("b")})
	wantFSMError(t, res, err, fsm.CodeBucketExists)

	follower.cfg.LeaderClient = nil
	_, err = follower.Apply(context.Background(), fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: "b", Key: "x"})
	if !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), string(leader.transport.LocalAddr())) {
		t.Fatalf("follower Apply without LeaderClient: %v, want ErrNotLeader naming the leader", err)
	}
	if _, err := follower.ReadIndex(context.Background()); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower ReadIndex: %v, want ErrNotLeader", err)
	}
}

// TestLeaderWithoutQuorum: once its only peer is gone a leader steps down;
// its barriers and writes fail with ErrNotLeader or ErrTimeout instead of
// serving a possibly stale read or hanging.
func TestLeaderWithoutQuorum(t *testing.T) {
	leader, follower := twoNodes(t, nil)
	seed(t, leader, "b")
	follower.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := leader.ReadBarrier(ctx)
	if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("ReadBarrier without quorum: %v, want ErrNotLeader or ErrTimeout", err)
	}
	_, err = leader.Apply(ctx, fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: "b", Key: "k"})
	if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("Apply without quorum: %v, want ErrNotLeader or ErrTimeout", err)
	}
	t.Logf("failed after %v", time.Since(start))
	if leader.Ready() {
		t.Fatal("a leader without quorum reports ready")
	}
}
