package rpc

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
)

// countingService is NodeService counting applies, so the test can tell
// that a forwarded write was submitted exactly once.
type countingService struct {
	NodeService
	applies atomic.Int64
}

func (s *countingService) ApplyLocal(ctx context.Context, cmd []byte) (fsm.Result, error) {
	s.applies.Add(1)
	return s.NodeService.ApplyLocal(ctx, cmd)
}

// addrBook maps raft addresses to rpc addresses. In production both share
// port 9100 through the clusternet mux; here the rpc server has its own
// port, so the LeaderClient translates the leader's raft address.
type addrBook struct {
	mu  sync.Mutex
	rpc map[string]string
}

func (b *addrBook) set(raftAddr, rpcAddr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rpc[raftAddr] = rpcAddr
}

func (b *addrBook) lookup(raftAddr string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.rpc[raftAddr]; ok {
		return a
	}
	return raftAddr
}

// translating is a cluster.LeaderClient over Client through an addrBook.
type translating struct {
	c    *Client
	book *addrBook
}

func (l translating) Apply(ctx context.Context, addr string, cmd []byte) (fsm.Result, error) {
	return l.c.Apply(ctx, l.book.lookup(addr), cmd)
}

func (l translating) ReadIndex(ctx context.Context, addr string) (uint64, error) {
	return l.c.ReadIndex(ctx, l.book.lookup(addr))
}

func (l translating) RemoveServer(ctx context.Context, addr, id string) error {
	return l.c.RemoveServer(ctx, l.book.lookup(addr), id)
}

var _ cluster.LeaderClient = (*Client)(nil)

type testClusterNode struct {
	node    *cluster.Node
	fsm     *fsm.FSM
	svc     *countingService
	rpcAddr string
}

// openClusterNode opens a raft node with fast timeouts, forwarding through
// client, and serves its rpc on a port of its own.
func openClusterNode(t *testing.T, id string, client *Client, book *addrBook) *testClusterNode {
	t.Helper()
	dir := t.TempDir()
	f, err := fsm.Open(filepath.Join(dir, "state.db"), testLogger())
	if err != nil {
		t.Fatalf("fsm.Open: %v", err)
	}
	n, err := cluster.New(cluster.Config{
		NodeID: id, DataDir: dir, BindAddr: "127.0.0.1:0", FSM: f, Logger: testLogger(),
		HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
		ApplyTimeout: 5 * time.Second,
		LeaderClient: translating{c: client, book: book},
	})
	if err != nil {
		_ = f.Close()
		t.Fatalf("cluster.New: %v", err)
	}
	t.Cleanup(func() {
		_ = n.Close()
		_ = f.Close()
	})
	if err := n.Open(context.Background()); err != nil {
		t.Fatalf("Open %s: %v", id, err)
	}
	tn := &testClusterNode{node: n, fsm: f, svc: &countingService{NodeService: NodeService{Node: n}}}
	// Registered after the node's cleanup, so it runs first: the rpc
	// server stops before the node it serves.
	tn.rpcAddr = startServer(t, tn.svc)
	book.set(n.Status().RaftAddr, tn.rpcAddr)
	return tn
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestThreeNodeForwarding runs three real raft nodes whose followers
// forward writes, read barriers and removals to the leader through this
// package.
func TestThreeNodeForwarding(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three raft nodes")
	}
	book := &addrBook{rpc: map[string]string{}}
	client, _ := newClient(t)
	n1 := openClusterNode(t, "n1", client, book)
	n2 := openClusterNode(t, "n2", client, book)
	n3 := openClusterNode(t, "n3", client, book)
	ctx := testCtx(t, 30*time.Second)

	if err := n1.node.Bootstrap(ctx); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	waitUntil(t, "n1 leads", n1.node.IsLeader)
	peers := []cluster.Peer{
		{ID: "n1", RaftAddr: n1.node.Status().RaftAddr, Alive: true},
		{ID: "n2", RaftAddr: n2.node.Status().RaftAddr, Alive: true},
		{ID: "n3", RaftAddr: n3.node.Status().RaftAddr, Alive: true},
	}
	ap := n1.node.NewAutopilot(cluster.AutopilotConfig{Peers: func() []cluster.Peer { return peers }})
	if err := ap.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	for _, n := range []*testClusterNode{n2, n3} {
		waitUntil(t, "followers know the leader", func() bool { id, _ := n.node.Leader(); return id == "n1" })
	}

	t.Run("forwarded apply", func(t *testing.T) {
		res, err := n2.node.Apply(ctx, fsm.CmdInitCluster, fsm.InitCluster{
			Config: fsm.ClusterConfig{ClusterID: "c-rpc", CreatedAt: epoch},
			Admin:  fsm.Credential{AccessKey: "ADMIN", SecretSealed: []byte("sealed"), CreatedAt: epoch},
		})
		if err != nil {
			t.Fatalf("Apply on follower: %v", err)
		}
		// Read-your-writes: the follower answered only once it applied it.
		cfg, ok, err := n2.fsm.Config()
		if err != nil || !ok || cfg.ClusterID != "c-rpc" {
			t.Fatalf("follower state after its own write: %+v %v %v", cfg, ok, err)
		}
		if got := n2.fsm.AppliedIndex(); got < res.Index {
			t.Fatalf("follower applied through %d, below the result's index %d", got, res.Index)
		}
		if got := n1.svc.applies.Load(); got != 1 {
			t.Fatalf("leader served %d forwarded applies, want exactly 1", got)
		}
	})

	t.Run("forwarded deterministic failure", func(t *testing.T) {
		_, err := n3.node.Apply(ctx, fsm.CmdInitCluster, fsm.InitCluster{
			Config: fsm.ClusterConfig{ClusterID: "c-other", CreatedAt: epoch},
		})
		if !errors.Is(err, fsm.ErrCode(fsm.CodeAlreadyInitialized)) {
			t.Fatalf("second InitCluster via n3 = %v, want %s", err, fsm.CodeAlreadyInitialized)
		}
		var re *RemoteError
		if errors.As(err, &re) {
			t.Fatalf("a command's own failure came back as an rpc error %v", err)
		}
	})

	t.Run("previous object through forwarding", func(t *testing.T) {
		apply := func(ct fsm.CommandType, body any) fsm.Result {
			t.Helper()
			res, err := n2.node.Apply(ctx, ct, body)
			if err != nil {
				t.Fatalf("Apply(%s) via n2: %v", ct, err)
			}
			return res
		}
		apply(fsm.CmdPutBackend, fsm.PutBackend{
			Backend: fsm.Backend{ID: "be-000000000001", Name: "local", Type: "fs", Path: "/srv", CreatedAt: epoch},
			Regions: []fsm.Region{{Name: "local", Backings: []fsm.BackingRegion{{BackendID: "be-000000000001", Region: "local"}}}},
		})
		apply(fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: fsm.Bucket{
			Name: "photos", Region: "local", Owner: "ADMIN", CreatedAt: epoch,
			Backings: []fsm.BackingBucket{{BackendID: "be-000000000001", Region: "local", Name: "photos-0001"}},
		}})
		first := *previousObject()
		first.Replicas = []fsm.Replica{{BackendID: "be-000000000001", Bucket: "photos-0001", Key: first.Key, ETag: "e1"}}
		if res := apply(fsm.CmdPutObject, fsm.PutObject{Object: first}); res.Previous != nil {
			t.Fatalf("first put replaced %+v", res.Previous)
		}
		second := first
		second.Size, second.ETag = 1, "00000000000000000000000000000001"
		res := apply(fsm.CmdPutObject, fsm.PutObject{Object: second})
		if !reflect.DeepEqual(res.Previous, &first) {
			t.Fatalf("Previous through forwarding:\n got %#v\nwant %#v", res.Previous, &first)
		}
	})

	t.Run("read barrier on followers", func(t *testing.T) {
		for _, n := range []*testClusterNode{n2, n3} {
			if err := n.node.ReadBarrier(ctx); err != nil {
				t.Fatalf("ReadBarrier: %v", err)
			}
			if n.fsm.AppliedIndex() < n1.fsm.AppliedIndex() {
				t.Fatalf("follower at %d after a barrier, leader at %d", n.fsm.AppliedIndex(), n1.fsm.AppliedIndex())
			}
		}
	})

	t.Run("followers refuse leader-only calls", func(t *testing.T) {
		_, err := client.Apply(ctx, n2.rpcAddr, []byte{1})
		if !errors.Is(err, cluster.ErrNotLeader) {
			t.Fatalf("Apply at a follower = %v, want ErrNotLeader", err)
		}
		if _, err := client.ReadIndex(ctx, n3.rpcAddr); !errors.Is(err, cluster.ErrNotLeader) {
			t.Fatalf("ReadIndex at a follower = %v, want ErrNotLeader", err)
		}
	})

	t.Run("status", func(t *testing.T) {
		for _, want := range []struct {
			n     *testClusterNode
			id    string
			state string
		}{{n1, "n1", "Leader"}, {n2, "n2", "Follower"}, {n3, "n3", "Follower"}} {
			st, err := client.Status(ctx, want.n.rpcAddr)
			if err != nil || st.NodeID != want.id || st.State != want.state || st.RaftAddr == "" {
				t.Fatalf("Status(%s) = %+v, %v", want.id, st, err)
			}
		}
	})

	t.Run("remove through a follower", func(t *testing.T) {
		if err := n2.node.RemoveServer(ctx, "n3"); err != nil {
			t.Fatalf("RemoveServer via n2: %v", err)
		}
		servers, err := n1.node.Servers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			if s.ID == "n3" {
				t.Fatalf("n3 still in the configuration %+v", servers)
			}
		}
	})

	t.Run("shut down leader", func(t *testing.T) {
		if err := n1.node.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_, err := client.Apply(ctx, n1.rpcAddr, []byte{1})
		if !errors.Is(err, cluster.ErrShutdown) {
			t.Fatalf("Apply at a closed node = %v, want ErrShutdown", err)
		}
	})
}
