// Package admintest runs a real admin API for tests of its clients: a
// bootstrapped single-node raft cluster (real FSM, real raft on loopback)
// with an admin credential, served by admin.NewHandler on a loopback HTTP
// server. The test chooses the Membership, so the cluster membership
// endpoints can be driven before (and independently of) the server wiring.
package admintest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stratagw/strata/admin"
	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/gateway/sigv4"
	"github.com/stratagw/strata/iam"
	"github.com/stratagw/strata/internal/sealbox"
)

// The admin credential of every node Start runs.
const (
	AccessKey = "SKTESTADMIN000000001"
	SecretKey = "test-admin-secret-0123456789abcdefghijkl"
)

// NodeID and ClusterID of every node Start runs.
const (
	NodeID    = "node-1"
	ClusterID = "c-admintest"
)

// Node is a running admin API.
type Node struct {
	// URL is the admin API's base URL (http://127.0.0.1:PORT).
	URL string
	// Client is signed with the admin credential.
	Client *client.Client
	// Raft is the node's raft node.
	Raft *cluster.Node
}

// Options tune Start; the zero value is a node without clustering.
type Options struct {
	// Membership is passed to admin.ServiceDeps (nil: clustering
	// disabled).
	Membership admin.Membership
}

// Start runs a node and stops it when the test ends.
func Start(t testing.TB, opts Options) *Node {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	box, err := sealbox.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsm.Open(filepath.Join(dir, "state.db"), logger)
	if err != nil {
		t.Fatalf("open fsm: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() }) // registered first: runs after the node closed
	node, err := cluster.New(cluster.Config{
		NodeID: NodeID, DataDir: dir, BindAddr: "127.0.0.1:0", FSM: f, Logger: logger,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("new raft node: %v", err)
	}
	t.Cleanup(func() { _ = node.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.Open(ctx); err != nil {
		t.Fatalf("open raft node: %v", err)
	}
	if err := node.Bootstrap(ctx); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	if err := node.WaitForLeader(ctx); err != nil {
		t.Fatalf("wait for leader: %v", err)
	}
	initCluster(ctx, t, node, box)

	creds := iam.NewStore(f, box)
	svc := admin.NewService(admin.ServiceDeps{
		NodeID: NodeID, State: f, Cluster: node, Box: box, Logger: logger,
		Membership: opts.Membership,
	})
	srv := httptest.NewServer(admin.NewHandler(admin.HandlerDeps{
		Service: svc, Verifier: sigv4.NewVerifier(creds.Secret, sigv4.Options{}), Credentials: creds, Logger: logger,
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, AccessKey, SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	return &Node{URL: srv.URL, Client: c, Raft: node}
}

// initCluster commits the cluster config and the admin credential, as a
// bootstrapping server does.
func initCluster(ctx context.Context, t testing.TB, node *cluster.Node, box *sealbox.Box) {
	t.Helper()
	now := time.Now().UTC()
	cred, err := iam.NewCredential(box, AccessKey, SecretKey, true, "admin", now)
	if err != nil {
		t.Fatalf("admin credential: %v", err)
	}
	res, err := node.Apply(ctx, fsm.CmdInitCluster, fsm.InitCluster{
		Config: fsm.ClusterConfig{ClusterID: ClusterID, CreatedAt: now},
		Admin:  cred,
	})
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("init cluster: %v", err)
	}
}

// Membership is an admin.Membership whose answers the test sets and
// whose calls it can inspect. Safe for concurrent use.
type Membership struct {
	mu sync.Mutex
	// List is what Members returns.
	List []api.Member
	// MembersErr, JoinErr, LeaveErr and RemoveErr are returned by the
	// corresponding method.
	MembersErr, JoinErr, LeaveErr, RemoveErr error
	joins                                    [][]string
	leaves                                   int
	removes                                  []string
}

// Set changes the answers under the lock (for use while a server runs).
func (m *Membership) Set(f func(m *Membership)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

// Members implements admin.Membership.
func (m *Membership) Members(context.Context) ([]api.Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]api.Member(nil), m.List...), m.MembersErr
}

// Join implements admin.Membership.
func (m *Membership) Join(_ context.Context, addrs []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.joins = append(m.joins, append([]string(nil), addrs...))
	return m.JoinErr
}

// Leave implements admin.Membership.
func (m *Membership) Leave(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leaves++
	return m.LeaveErr
}

// Remove implements admin.Membership.
func (m *Membership) Remove(_ context.Context, nodeID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removes = append(m.removes, nodeID)
	return m.RemoveErr
}

// Calls returns the addrs of every Join, the number of Leaves and the
// node ids of every Remove so far.
func (m *Membership) Calls() (joins [][]string, leaves int, removes []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]string(nil), m.joins...), m.leaves, append([]string(nil), m.removes...)
}
