package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/cluster"
)

// clusterConfig is a fast-timeout node config for in-process clusters.
func clusterConfig(t *testing.T, id string, join []string) Config {
	return Config{
		NodeID: id, DataDir: t.TempDir(), S3Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
		Bootstrap: len(join) == 0, Join: join, ClusterKey: testKey, DevBackend: true,
		AdminAccessKey: "AKIAADMINTEST0000001", AdminSecretKey: "secretsecretsecretsecretsecretsecret0001",
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond, ApplyTimeout: 5 * time.Second,
		FastGossip: true, GossipRejoinInterval: 500 * time.Millisecond, AutopilotInterval: 200 * time.Millisecond,
		AutopilotStabilization: 200 * time.Millisecond,
	}
}

// hostConfig is clusterConfig with every listener on the loopback host
// 127.0.0.<host>, so that each node of a test cluster has its own IP, as
// on real hosts.
func hostConfig(t *testing.T, id string, host int, join []string) Config {
	cfg := clusterConfig(t, id, join)
	addr := fmt.Sprintf("127.0.0.%d:0", host)
	cfg.S3Addr, cfg.AdminAddr, cfg.RaftAddr, cfg.GossipAddr = addr, addr, addr, addr
	return cfg
}

// waitTimeout bounds every wait for a cluster to converge. Elections take
// a few hundred milliseconds with the test timeouts; a dead gossip member
// is declared dead within a few seconds.
const waitTimeout = 20 * time.Second

// eventually polls cond until it returns nil or timeout passes, then fails
// the test with cond's last error.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ctxFor is a context bounded by d that ends with the test.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer collects one node's logs; they are printed only when the test
// fails, so a passing run stays quiet and a failing one says what the
// nodes saw.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns the last n bytes of the log.
func (b *logBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return string(s)
}

// tnode is one in-process node of a test cluster. After its first start
// cfg holds the addresses it bound, so a restart comes back on the same
// addresses and data directory, as a restarted process would.
type tnode struct {
	t   *testing.T
	cfg Config
	log *logBuffer

	mu sync.Mutex
	s  *Server // nil while stopped
}

// newNode starts a node and closes it when the test ends. Set
// STRATA_TEST_LOG=1 to see every node's logs live on stderr.
func newNode(t *testing.T, cfg Config) *tnode {
	t.Helper()
	n := &tnode{t: t, cfg: cfg, log: &logBuffer{}}
	var w io.Writer = n.log
	if os.Getenv("STRATA_TEST_LOG") != "" {
		w = io.MultiWriter(n.log, os.Stderr)
	}
	n.cfg.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test_node", cfg.NodeID)
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("---- last logs of %s ----\n%s", n.cfg.NodeID, n.log.tail(6000))
		}
	})
	n.start()
	return n
}

// start starts the node (again) and pins its addresses.
func (n *tnode) start() {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, n.cfg)
	if err != nil {
		n.t.Fatalf("start %s: %v\nlogs:\n%s", n.cfg.NodeID, err, n.log.tail(4000))
	}
	n.cfg.S3Addr = s.s3Ln.Addr().String()
	n.cfg.AdminAddr = s.adminLn.Addr().String()
	n.cfg.RaftAddr = s.cnet.raftAddr
	n.cfg.GossipAddr = s.cnet.gossip.LocalAddr()
	n.mu.Lock()
	n.s = s
	n.mu.Unlock()
}

// stop closes the node (without leaving the cluster: a crash or a
// restart, as far as the others can tell).
func (n *tnode) stop() {
	n.mu.Lock()
	s := n.s
	n.s = nil
	n.mu.Unlock()
	if s != nil {
		if err := s.Close(); err != nil {
			n.t.Errorf("close %s: %v", n.cfg.NodeID, err)
		}
	}
}

// srv is the running server; the test fails if the node is stopped.
func (n *tnode) srv() *Server {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.s == nil {
		n.t.Fatalf("node %s is not running", n.cfg.NodeID)
	}
	return n.s
}

func (n *tnode) id() string         { return n.cfg.NodeID }
func (n *tnode) gossipAddr() string { return n.cfg.GossipAddr }
func (n *tnode) node() *cluster.Node {
	n.t.Helper()
	return n.srv().node
}

// s3 is an S3 client of this node with the admin credential. It does not
// retry, so every failure the node answers is seen by the test.
func (n *tnode) s3() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:     aws.String("http://" + n.cfg.S3Addr),
		Region:           "us-east-1",
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(n.cfg.AdminAccessKey, n.cfg.AdminSecretKey, ""),
		HTTPClient:       awshttp.NewBuildableClient(),
		RetryMaxAttempts: 1,
	})
}

// admin is an admin API client of this node with the admin credential.
func (n *tnode) admin() *client.Client {
	n.t.Helper()
	c, err := client.New("http://"+n.cfg.AdminAddr, n.cfg.AdminAccessKey, n.cfg.AdminSecretKey)
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

// tcluster is a set of in-process nodes on 127.0.0.1, 127.0.0.2, …
type tcluster struct {
	t     *testing.T
	nodes []*tnode
}

// newCluster starts size nodes: n1 bootstraps on 127.0.0.1, the others
// join its gossip from 127.0.0.2, … It returns once every node is a voter
// and has caught up. mutate (may be nil) adjusts each node's config.
func newCluster(t *testing.T, size int, mutate func(*Config)) *tcluster {
	t.Helper()
	c := &tcluster{t: t}
	for i := 1; i <= size; i++ {
		var join []string
		if i > 1 {
			join = []string{c.nodes[0].gossipAddr()}
		}
		cfg := hostConfig(t, fmt.Sprintf("n%d", i), i, join)
		if mutate != nil {
			mutate(&cfg)
		}
		c.nodes = append(c.nodes, newNode(t, cfg))
	}
	c.waitConverged(c.nodes...)
	return c
}

// leader is the running node that is the raft leader, waiting for one.
func (c *tcluster) leader(among ...*tnode) *tnode {
	c.t.Helper()
	if len(among) == 0 {
		among = c.nodes
	}
	var found *tnode
	eventually(c.t, waitTimeout, "a leader", func() error {
		for _, n := range among {
			if s := n.running(); s != nil && s.node.IsLeader() {
				found = n
				return nil
			}
		}
		return fmt.Errorf("no leader among %d nodes", len(among))
	})
	return found
}

// running returns the server or nil when the node is stopped.
func (n *tnode) running() *Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.s
}

// others returns c's nodes except the given ones.
func (c *tcluster) others(except ...*tnode) []*tnode {
	var out []*tnode
next:
	for _, n := range c.nodes {
		for _, e := range except {
			if n == e {
				continue next
			}
		}
		out = append(out, n)
	}
	return out
}

// waitConverged waits until the raft configuration (as the leader among
// nodes sees it) has exactly nodes as voters and every one of them is
// ready and has applied everything the leader had applied.
func (c *tcluster) waitConverged(nodes ...*tnode) {
	c.t.Helper()
	eventually(c.t, waitTimeout, "cluster converged", func() error {
		var lead *Server
		for _, n := range nodes {
			if s := n.running(); s != nil && s.node.IsLeader() {
				lead = s
			}
		}
		if lead == nil {
			return fmt.Errorf("no leader")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		servers, err := lead.node.Servers(ctx)
		if err != nil {
			return err
		}
		if err := sameVoters(servers, nodes); err != nil {
			return err
		}
		want := lead.fsm.AppliedIndex()
		for _, n := range nodes {
			s := n.running()
			if s == nil {
				return fmt.Errorf("%s is stopped", n.id())
			}
			if !s.node.Ready() {
				return fmt.Errorf("%s is not ready", n.id())
			}
			if got := s.fsm.AppliedIndex(); got < want {
				return fmt.Errorf("%s applied %d, the leader %d", n.id(), got, want)
			}
		}
		return nil
	})
}

// sameVoters checks that servers are exactly nodes, all voters.
func sameVoters(servers []cluster.ServerInfo, nodes []*tnode) error {
	if len(servers) != len(nodes) {
		return fmt.Errorf("raft configuration %+v, want %d voters", servers, len(nodes))
	}
	for _, n := range nodes {
		found := false
		for _, sv := range servers {
			if sv.ID == n.id() {
				if !sv.Voter {
					return fmt.Errorf("%s is not a voter: %+v", n.id(), servers)
				}
				if sv.Address != n.cfg.RaftAddr {
					return fmt.Errorf("%s has address %s in raft, its own is %s", n.id(), sv.Address, n.cfg.RaftAddr)
				}
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s is not in the raft configuration %+v", n.id(), servers)
		}
	}
	return nil
}

// serverIDs reads the raft configuration through node n.
func serverIDs(t testing.TB, n *tnode) []cluster.ServerInfo {
	t.Helper()
	servers, err := n.node().Servers(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatalf("raft configuration via %s: %v", n.id(), err)
	}
	return servers
}
