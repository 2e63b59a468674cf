package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
)

// raftTimeouts are the raft timings a benchmark cluster runs with; zero
// fields leave the node's defaults.
type raftTimeouts struct {
	Heartbeat, Election, Lease time.Duration
}

// defaultRaftTimeouts are what a node uses with no configuration (raft's
// defaults, see config.Config): the figures the report labels as default.
var defaultRaftTimeouts = raftTimeouts{Heartbeat: time.Second, Election: time.Second, Lease: 500 * time.Millisecond}

func (t raftTimeouts) String() string {
	return fmt.Sprintf("heartbeat %v, election %v, leader lease %v", t.Heartbeat, t.Election, t.Lease)
}

// configYAML is the --config file that sets these timeouts.
func (t raftTimeouts) configYAML() string {
	return fmt.Sprintf("heartbeat_timeout: %s\nelection_timeout: %s\nleader_lease_timeout: %s\n", t.Heartbeat, t.Election, t.Lease)
}

// clusterNode is one strata process of a benchmark cluster.
type clusterNode struct {
	id        string
	s3URL     string
	adminURL  string
	gossip    string
	args      []string
	proc      *proc
	s3        *s3.Client
	admin     *client.Client
	logPrefix string
}

// benchCluster is three strata processes on 127.0.0.1-3 sharing one
// cluster key, with the env's versitygw as their only backend.
type benchCluster struct {
	name    string
	dir     string
	bin     string
	procEnv []string
	nodes   []*clusterNode
}

const clusterSize = 3

// startCluster starts a three-node cluster named name under e.dir: n1
// bootstraps, n2 and n3 join through n1's gossip address. It returns once
// every node is ready, the members list shows three reachable voters and
// the versitygw backend is added with its region as the default. A
// non-zero t is written to a --config file every node reads.
func startCluster(ctx context.Context, e *env, name string, t raftTimeouts) (*benchCluster, error) {
	dir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	c := &benchCluster{name: name, dir: dir, bin: e.strataBin, procEnv: []string{
		"STRATA_CLUSTER_KEY=" + base64.StdEncoding.EncodeToString(key),
		"STRATA_ADMIN_ACCESS_KEY=" + adminAK, "STRATA_ADMIN_SECRET_KEY=" + adminSK,
	}}
	ok := false
	defer func() {
		// Whatever started must not outlive a failed start.
		if !ok {
			c.close()
		}
	}()
	var cfgFile string
	if t != (raftTimeouts{}) {
		cfgFile = filepath.Join(dir, "strata.yaml")
		if err := os.WriteFile(cfgFile, []byte(t.configYAML()), 0o644); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
	}
	for i := 1; i <= clusterSize; i++ {
		n, err := newClusterNode(dir, name, i, cfgFile)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	// n1 first: the others join through it, and nodes started together
	// before anyone bootstrapped would only find each other.
	c.nodes[0].args = append(c.nodes[0].args, "--bootstrap")
	for _, n := range c.nodes[1:] {
		n.args = append(n.args, "--join", c.nodes[0].gossip)
	}
	for _, n := range c.nodes {
		if err := c.startNode(ctx, n); err != nil {
			return nil, err
		}
	}
	if err := c.waitVoters(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	if err := c.addBackend(ctx, e); err != nil {
		return nil, err
	}
	timings := "default raft timeouts"
	if t != (raftTimeouts{}) {
		timings = t.String()
	}
	log.Printf("cluster %s: 3 voters at %s, %s, %s (%s)", name, c.nodes[0].s3URL, c.nodes[1].s3URL, c.nodes[2].s3URL, timings)
	ok = true
	return c, nil
}

// newClusterNode picks free ports on 127.0.0.i and builds node i's
// command line (without --bootstrap/--join).
func newClusterNode(dir, cluster string, i int, cfgFile string) (*clusterNode, error) {
	ip := fmt.Sprintf("127.0.0.%d", i)
	var addrs [4]string
	for k := range addrs {
		a, err := freeAddrOn(ip)
		if err != nil {
			return nil, fmt.Errorf("free port on %s (is the loopback range 127.0.0.0/8 routed here?): %w", ip, err)
		}
		addrs[k] = a
	}
	id := fmt.Sprintf("n%d", i)
	n := &clusterNode{
		id: id, s3URL: "http://" + addrs[0], adminURL: "http://" + addrs[1], gossip: addrs[3],
		logPrefix: cluster + "-" + id,
	}
	n.args = []string{"server", "--node-id", id, "--data-dir", filepath.Join(dir, id),
		"--s3-addr", addrs[0], "--admin-addr", addrs[1], "--raft-addr", addrs[2], "--gossip-addr", addrs[3],
		"--advertise", ip, "--no-dev-backend"}
	if cfgFile != "" {
		n.args = append(n.args, "--config", cfgFile)
	}
	var err error
	n.admin, err = client.New(n.adminURL, adminAK, adminSK)
	if err != nil {
		return nil, fmt.Errorf("admin client for %s: %w", id, err)
	}
	n.s3 = newClient(n.s3URL, adminAK, adminSK)
	return n, nil
}

// startNode starts (or restarts, with the same arguments and data dir) a
// node and waits for its /ready.
func (c *benchCluster) startNode(ctx context.Context, n *clusterNode) error {
	p, err := startProc(n.logPrefix, c.dir, c.procEnv, c.bin, n.args...)
	if err != nil {
		return err
	}
	n.proc = p
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitHTTP(wctx, n.adminURL+"/ready", func(code int) bool { return code == 200 }); err != nil {
		return fmt.Errorf("%s not ready (log %s): %w", n.id, filepath.Join(c.dir, n.logPrefix+".log"), err)
	}
	return nil
}

// waitVoters waits until every node's members list shows all three nodes
// as reachable voters that gossip sees alive.
func (c *benchCluster) waitVoters(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last string
	for {
		last = "no answer"
		ok := true
		for _, n := range c.nodes {
			ms, err := members(ctx, n)
			if err != nil {
				last = fmt.Sprintf("%s: %v", n.id, err)
				ok = false
				break
			}
			if v := votersAlive(ms); v != clusterSize {
				last = fmt.Sprintf("%s sees %d live voters: %s", n.id, v, describeMembers(ms))
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster %s: no 3 voters after %v: %s", c.name, limit, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func votersAlive(ms []api.Member) int {
	v := 0
	for _, m := range ms {
		if m.Voter && m.Reachable && m.Gossip == "alive" {
			v++
		}
	}
	return v
}

func describeMembers(ms []api.Member) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s(%s voter=%v gossip=%s reachable=%v applied=%d)",
			m.NodeID, m.RaftRole, m.Voter, m.Gossip, m.Reachable, m.AppliedIndex))
	}
	return strings.Join(parts, " ")
}

// addBackend adds the env's versitygw through n1's admin API with the
// CLI, as an operator would, and makes its region the default.
func (c *benchCluster) addBackend(ctx context.Context, e *env) error {
	cli := func(args ...string) error {
		cmd := exec.CommandContext(ctx, c.bin, args...)
		cmd.Env = append(os.Environ(), "STRATA_ADMIN_URL="+c.nodes[0].adminURL,
			"STRATA_ACCESS_KEY="+adminAK, "STRATA_SECRET_KEY="+adminSK, "STRATA_BACKEND_SECRET_KEY="+backendSK)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("strata %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := cli("admin", "backend", "add", "--name", "gw", "--type", "s3", "--endpoint", e.gwURL,
		"--region", "us-east-1", "--access-key", backendAK, "--path-style"); err != nil {
		return err
	}
	return cli("admin", "region", "default", "us-east-1")
}

// createBucket creates a bucket (in the default region) through n1.
func (c *benchCluster) createBucket(ctx context.Context, name string) error {
	if _, err := c.nodes[0].s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("create bucket %s on the cluster: %w", name, err)
	}
	return nil
}

// s3Clients are the nodes' S3 clients, in node order.
func (c *benchCluster) s3Clients() []*s3.Client {
	out := make([]*s3.Client, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.s3
	}
	return out
}

// pids are the nodes' process ids, in node order.
func (c *benchCluster) pids() []int {
	out := make([]int, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.proc.pid()
	}
	return out
}

// leader asks each live node for the leader until one names a node of
// this cluster.
func (c *benchCluster) leader(ctx context.Context, skip *clusterNode) (*clusterNode, error) {
	var errs []error
	for _, n := range c.nodes {
		if n == skip {
			continue
		}
		cl, err := clusterInfo(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.id, err))
			continue
		}
		for _, m := range c.nodes {
			if m.id == cl.Leader {
				return m, nil
			}
		}
		errs = append(errs, fmt.Errorf("%s: leader %q", n.id, cl.Leader))
	}
	return nil, fmt.Errorf("no leader known: %w", errors.Join(errs...))
}

// waitCaughtUp waits until n is back as a reachable voter in the leader's
// members list with an applied index at least the leader's.
func (c *benchCluster) waitCaughtUp(ctx context.Context, n *clusterNode, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last := "no answer"
	for time.Now().Before(deadline) {
		if err := c.caughtUp(ctx, n); err != nil {
			last = err.Error()
		} else {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not catch up within %v: %s", n.id, limit, last)
}

func (c *benchCluster) caughtUp(ctx context.Context, n *clusterNode) error {
	ld, err := c.leader(ctx, nil)
	if err != nil {
		return err
	}
	ms, err := members(ctx, ld)
	if err != nil {
		return fmt.Errorf("members from %s: %w", ld.id, err)
	}
	if votersAlive(ms) != clusterSize {
		return fmt.Errorf("leader %s sees %s", ld.id, describeMembers(ms))
	}
	lc, err := clusterInfo(ctx, ld)
	if err != nil {
		return fmt.Errorf("cluster from %s: %w", ld.id, err)
	}
	nc, err := clusterInfo(ctx, n)
	if err != nil {
		return fmt.Errorf("cluster from %s: %w", n.id, err)
	}
	if nc.AppliedIndex < lc.AppliedIndex {
		return fmt.Errorf("%s applied %d, leader %s applied %d", n.id, nc.AppliedIndex, ld.id, lc.AppliedIndex)
	}
	return nil
}

// adminCallTimeout bounds one admin API call: the members list asks every
// node about itself, which takes a moment when one just died.
const adminCallTimeout = 5 * time.Second

func members(ctx context.Context, n *clusterNode) ([]api.Member, error) {
	ctx, cancel := context.WithTimeout(ctx, adminCallTimeout)
	defer cancel()
	return n.admin.Members(ctx)
}

func clusterInfo(ctx context.Context, n *clusterNode) (api.Cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, adminCallTimeout)
	defer cancel()
	return n.admin.Cluster(ctx)
}

func (c *benchCluster) close() {
	for _, n := range c.nodes {
		n.proc.stop()
	}
}
