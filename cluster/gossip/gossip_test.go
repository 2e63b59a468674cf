package gossip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is a cluster key; otherKey belongs to a different cluster.
var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

// metaBox holds a node's meta so a test can change it.
type metaBox struct {
	mu sync.Mutex
	m  Meta
}

func (b *metaBox) get() Meta {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m
}

func (b *metaBox) set(m Meta) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m = m
}

// node is a started member and its meta.
type node struct {
	*Gossip
	meta *metaBox
}

// testLogger writes memberlist's output to stderr when STRATA_TEST_LOG is
// set; t.Log cannot be used, memberlist logs after the test returns.
func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startNode starts a fast member on a free 127.0.0.1 port; mod may adjust
// the config. The member is closed at the end of the test.
func startNode(t *testing.T, name, clusterID string, mod func(*Config)) *node {
	t.Helper()
	box := &metaBox{m: Meta{NodeID: name, RaftAddr: "127.0.0.1:9100", S3URL: "http://" + name + ":9000", ClusterID: clusterID}}
	cfg := Config{
		NodeID:         name,
		BindAddr:       "127.0.0.1:0",
		ClusterKey:     testKey,
		Meta:           box.get,
		RejoinInterval: 200 * time.Millisecond,
		Fast:           true,
		Logger:         testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return &node{Gossip: g, meta: box}
}

// join makes n join addr and fails the test if it cannot.
func join(t *testing.T, n *node, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := n.Join(ctx, []string{addr})
	if err != nil || c != 1 {
		t.Fatalf("%s join %s: n=%d err=%v", n.cfg.NodeID, addr, c, err)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, extraInfo ...func() string) {
	t.Helper()
	extra := func() string {
		var s string
		for _, f := range extraInfo {
			s += "; " + f()
		}
		return s
	}
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what+extra())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// member returns n's view of the member called name.
func member(n *node, name string) (Member, bool) {
	for _, m := range n.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// hasState reports whether n sees name in state.
func hasState(n *node, name string, state State) func() bool {
	return func() bool {
		m, ok := member(n, name)
		return ok && m.State == state
	}
}

// threeNodes starts a, b, c and joins them into one cluster.
func threeNodes(t *testing.T, mod func(name string, cfg *Config)) []*node {
	t.Helper()
	var nodes []*node
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, startNode(t, name, "", func(c *Config) {
			if mod != nil {
				mod(name, c)
			}
		}))
	}
	join(t, nodes[1], nodes[0].LocalAddr())
	join(t, nodes[2], nodes[1].LocalAddr())
	for _, n := range nodes {
		for _, o := range nodes {
			waitFor(t, 5*time.Second, n.cfg.NodeID+" sees "+o.cfg.NodeID+" alive", hasState(n, o.cfg.NodeID, StateAlive))
		}
	}
	return nodes
}

func TestThreeMembersSeeEachOtherWithMeta(t *testing.T) {
	nodes := threeNodes(t, nil)
	for _, n := range nodes {
		ms := n.Members()
		if len(ms) != 3 {
			t.Fatalf("%s sees %d members: %+v", n.cfg.NodeID, len(ms), ms)
		}
		for i, o := range nodes {
			m := ms[i] // sorted by name: a, b, c
			if m.Name != o.cfg.NodeID || m.Addr != o.LocalAddr() || m.Meta != o.meta.get() || m.State != StateAlive {
				t.Errorf("%s sees %+v, want name %s addr %s meta %+v alive", n.cfg.NodeID, m, o.cfg.NodeID, o.LocalAddr(), o.meta.get())
			}
		}
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	nodes := threeNodes(t, nil)
	a := nodes[0]
	changed := nodes[2].Changed()
	want := a.meta.get()
	want.ClusterID = "cluster-1"
	want.AdminURL = "http://a:9001"
	a.meta.set(want)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.UpdateMeta(ctx); err != nil {
		t.Fatalf("update meta: %v", err)
	}
	for _, n := range nodes[1:] {
		waitFor(t, 5*time.Second, n.cfg.NodeID+" sees a's new meta", func() bool {
			m, _ := member(n, "a")
			return m.Meta == want
		})
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed() channel was not closed by the meta update")
	}
}

func TestUpdateMetaTooLongIsRefused(t *testing.T) {
	a := startNode(t, "a", "", nil)
	before := a.meta.get()
	long := before
	long.S3URL = "http://" + strings.Repeat("x", 600)
	a.meta.set(long)
	if err := a.UpdateMeta(context.Background()); err == nil || !strings.Contains(err.Error(), "limit is 512") {
		t.Fatalf("want a size error, got %v", err)
	}
	// memberlist may still ask for the meta: the last one that fit is served.
	if got, _, err := decodeMeta(a.d.NodeMeta(512)); err != nil || got != before {
		t.Fatalf("NodeMeta after oversize meta = %+v, %v; want %+v", got, err, before)
	}
}

func TestLeaveShowsLeft(t *testing.T) {
	nodes := threeNodes(t, nil)
	c := nodes[2]
	if err := c.Leave(2 * time.Second); err != nil {
		t.Fatalf("leave: %v", err)
	}
	for _, n := range nodes[:2] {
		waitFor(t, 5*time.Second, n.cfg.NodeID+" sees c left", hasState(n, "c", StateLeft), func() string { return fmt.Sprintf("members %+v", n.Members()) })
		if m, _ := member(n, "c"); m.Meta != c.meta.get() {
			t.Errorf("left member lost its meta: %+v", m)
		}
	}
	if err := c.Leave(time.Second); !errors.Is(err, errClosed) {
		t.Errorf("second leave: %v, want errClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close after leave: %v", err)
	}
	if _, err := c.Join(context.Background(), []string{nodes[0].LocalAddr()}); !errors.Is(err, errClosed) {
		t.Errorf("join after leave: %v, want errClosed", err)
	}
}

func TestCloseShowsDead(t *testing.T) {
	nodes := threeNodes(t, nil)
	if err := nodes[2].Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := nodes[2].Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	for _, n := range nodes[:2] {
		waitFor(t, 10*time.Second, n.cfg.NodeID+" sees c dead", hasState(n, "c", StateDead))
	}
	// Forget drops a dead member, never an alive one.
	if nodes[0].Forget("b") {
		t.Error("Forget removed an alive member")
	}
	if !nodes[0].Forget("c") {
		t.Error("Forget did not remove the dead member")
	}
	if _, ok := member(nodes[0], "c"); ok {
		t.Error("c still listed after Forget")
	}
}

func TestWrongKeyIsRefused(t *testing.T) {
	a := startNode(t, "a", "", nil)
	b := startNode(t, "b", "", func(c *Config) { c.ClusterKey = otherKey })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := b.Join(ctx, []string{a.LocalAddr()})
	if n != 0 || !errors.Is(err, ErrWrongKey) {
		t.Fatalf("join with another key: n=%d err=%v, want ErrWrongKey", n, err)
	}
	if want := "the member at " + a.LocalAddr() + " uses a different cluster key"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// JoinRetry must not retry what cannot succeed.
	start := time.Now()
	if _, err := b.JoinRetry(ctx, []string{a.LocalAddr()}, 2*time.Second); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("JoinRetry: %v, want ErrWrongKey", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("JoinRetry took %s: it retried a wrong key", d)
	}
	for _, g := range []*node{a, b} {
		if ms := g.Members(); len(ms) != 1 {
			t.Errorf("%s knows %d members after a refused join: %+v", g.cfg.NodeID, len(ms), ms)
		}
	}
}

func TestOtherClusterIsRefused(t *testing.T) {
	a := startNode(t, "a", "cluster-A", nil)
	b := startNode(t, "b", "cluster-B", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := b.Join(ctx, []string{a.LocalAddr()})
	if n != 0 || !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("join across clusters: n=%d err=%v, want ErrOtherCluster", n, err)
	}
	for _, s := range []string{"cluster-A", "cluster-B", "member a"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if _, err := b.JoinRetry(ctx, []string{a.LocalAddr()}, time.Second); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("JoinRetry: %v, want ErrOtherCluster", err)
	}
	// Give gossip time to leak, then check it did not.
	time.Sleep(time.Second)
	for _, g := range []*node{a, b} {
		if ms := g.Members(); len(ms) != 1 {
			t.Errorf("%s knows %d members after a refused merge: %+v", g.cfg.NodeID, len(ms), ms)
		}
	}
	// A fresh node (no cluster id yet) may join either cluster.
	c := startNode(t, "c", "", nil)
	join(t, c, a.LocalAddr())
	waitFor(t, 5*time.Second, "a sees c", hasState(a, "c", StateAlive))
}

func TestPeersFileRejoin(t *testing.T) {
	dirs := map[string]string{}
	nodes := threeNodes(t, func(name string, c *Config) {
		dirs[name] = t.TempDir()
		c.PeersFile = filepath.Join(dirs[name], "peers.json")
	})
	a, b, c := nodes[0], nodes[1], nodes[2]
	peersFile := c.cfg.PeersFile
	want := []string{a.LocalAddr(), b.LocalAddr()}
	waitFor(t, 5*time.Second, "c's peers file lists a and b", func() bool {
		got, err := readPeersFile(peersFile)
		return err == nil && len(got) == 2 && got[0] == min(want[0], want[1]) && got[1] == max(want[0], want[1])
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a sees c dead", hasState(a, "c", StateDead))
	// Let the dead incarnation become reclaimable: the new one has
	// another port.
	time.Sleep(600 * time.Millisecond)

	c2 := startNode(t, "c", "", func(cfg *Config) { cfg.PeersFile = peersFile })
	if c2.LocalAddr() == c.LocalAddr() {
		t.Fatalf("restarted c on its old address %s; the test needs a new one", c.LocalAddr())
	}
	for _, n := range []*node{a, b} {
		waitFor(t, 10*time.Second, n.cfg.NodeID+" sees the restarted c", func() bool {
			m, ok := member(n, "c")
			return ok && m.State == StateAlive && m.Addr == c2.LocalAddr()
		})
		waitFor(t, 5*time.Second, "restarted c sees "+n.cfg.NodeID, hasState(c2, n.cfg.NodeID, StateAlive))
	}

	// A node that left does not rejoin by itself: its peers file is gone.
	if err := c2.Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(peersFile); !os.IsNotExist(err) {
		t.Errorf("peers file still there after leave: %v", err)
	}
}

func TestJoinUnreachable(t *testing.T) {
	a := startNode(t, "a", "", nil)
	dead := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := a.Join(ctx, []string{dead})
	if n != 0 || err == nil || errors.Is(err, ErrWrongKey) || errors.Is(err, ErrOtherCluster) || !strings.Contains(err.Error(), dead) {
		t.Fatalf("join of a closed port: n=%d err=%v", n, err)
	}
	if _, err := a.Join(ctx, nil); err == nil {
		t.Error("join of no addresses succeeded")
	}
	if _, err := a.Join(ctx, []string{a.LocalAddr()}); err == nil || !strings.Contains(err.Error(), "own gossip address") {
		t.Errorf("join of own address: %v", err)
	}
	// JoinRetry keeps trying until ctx ends and says why it stopped.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := a.JoinRetry(short, []string{dead}, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), dead) {
		t.Errorf("JoinRetry of a closed port: %v", err)
	}
}

// freeAddr returns a 127.0.0.1 address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestStartRejectsBadConfig(t *testing.T) {
	ok := func() Config {
		return Config{NodeID: "a", BindAddr: "127.0.0.1:0", ClusterKey: testKey, Meta: func() Meta { return Meta{NodeID: "a"} }, Fast: true}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no node id", func(c *Config) { c.NodeID = "" }, "node id is empty"},
		{"no meta func", func(c *Config) { c.Meta = nil }, "no Meta function"},
		{"short key", func(c *Config) { c.ClusterKey = []byte("short") }, "cluster key is 5 bytes"},
		{"bind without port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "gossip bind address"},
		{"bad bind port", func(c *Config) { c.BindAddr = "127.0.0.1:99999" }, "invalid port"},
		{"bad advertise port", func(c *Config) { c.Advertise = "127.0.0.1:x" }, "invalid port"},
		{"unresolvable advertise", func(c *Config) { c.Advertise = "no-such-host.invalid" }, "resolve no-such-host.invalid"},
		{"negative rejoin", func(c *Config) { c.RejoinInterval = -time.Second }, "negative rejoin interval"},
		{"meta too long", func(c *Config) {
			c.Meta = func() Meta { return Meta{S3URL: strings.Repeat("x", 600)} }
		}, "limit is 512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok()
			tt.mod(&cfg)
			g, err := Start(context.Background(), cfg)
			if err == nil {
				_ = g.Close()
				t.Fatal("Start accepted the config")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestAdvertiseHostName(t *testing.T) {
	a := startNode(t, "a", "", func(c *Config) { c.Advertise = "localhost" })
	host, _, err := net.SplitHostPort(a.LocalAddr())
	if err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		t.Fatalf("advertised %q for localhost (err %v)", a.LocalAddr(), err)
	}
	b := startNode(t, "b", "", nil)
	join(t, b, a.LocalAddr())
	waitFor(t, 5*time.Second, "a sees b", hasState(a, "b", StateAlive))
}

func TestCorruptPeersFileDoesNotStopStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readPeersFile(path); err == nil {
		t.Fatal("readPeersFile accepted garbage")
	}
	a := startNode(t, "a", "", func(c *Config) { c.PeersFile = path })
	if len(a.fileAddrs) != 0 {
		t.Fatalf("addresses from a corrupt file: %v", a.fileAddrs)
	}
	if err := os.WriteFile(path, []byte(`["127.0.0.1:1","nonsense"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readPeersFile(path); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("bad address not reported: %v", err)
	}
}

func TestPeersFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	if got, err := readPeersFile(path); err != nil || got != nil {
		t.Fatalf("missing file: %v %v", got, err)
	}
	want := []string{"10.0.0.1:9101", "[::1]:9101"}
	if err := writePeersFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := readPeersFile(path)
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("read back %v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=1.2.3.4", slog.LevelDebug, "Stream connection from=1.2.3.4"},
		{"[INFO] memberlist: Suspect b has failed", slog.LevelInfo, "Suspect b has failed"},
		{"[WARN] memberlist: Refuting a dead message", slog.LevelWarn, "Refuting a dead message"},
		{"[ERR] memberlist: Failed push/pull merge", slog.LevelError, "Failed push/pull merge"},
		{"[ERROR] memberlist: Failed to encrypt", slog.LevelError, "Failed to encrypt"},
		{"Err: Could not set the deadline", slog.LevelInfo, "Err: Could not set the deadline"},
	}
	for _, tt := range tests {
		level, msg := parseLogLine(tt.line)
		if level != tt.level || msg != tt.msg {
			t.Errorf("parseLogLine(%q) = %v %q, want %v %q", tt.line, level, msg, tt.level, tt.msg)
		}
	}
}

func TestMetaRoundTripAndKeyDerivation(t *testing.T) {
	m := Meta{NodeID: "n1", RaftAddr: "10.0.0.1:9100", S3URL: "https://s3.example:9000", AdminURL: "https://s3.example:9001", ClusterID: "c-1"}
	for _, leaving := range []bool{false, true} {
		b, err := encodeMeta(m, leaving)
		if err != nil {
			t.Fatal(err)
		}
		if got, gotLeaving, err := decodeMeta(b); err != nil || got != m || gotLeaving != leaving {
			t.Fatalf("decode = %+v %v, %v; want %+v %v", got, gotLeaving, err, m, leaving)
		}
	}
	if _, _, err := decodeMeta([]byte{0xc1}); err == nil {
		t.Error("decodeMeta accepted garbage")
	}
	k1, err := deriveGossipKey(testKey)
	if err != nil || len(k1) != 32 {
		t.Fatalf("derive: %d bytes, %v", len(k1), err)
	}
	k2, _ := deriveGossipKey(otherKey)
	if string(k1) == string(k2) || string(k1) == string(testKey) {
		t.Error("derived keys are not distinct from each other and from the cluster key")
	}
}

// A fresh node joined to members of two clusters must not bridge them: the
// merge is refused on the clustered side and alive messages about the
// other cluster's members are ignored.
func TestFreshNodeDoesNotBridgeClusters(t *testing.T) {
	a := startNode(t, "a", "cluster-A", nil)
	b := startNode(t, "b", "cluster-B", nil)
	c := startNode(t, "c", "", nil)
	join(t, c, a.LocalAddr())
	waitFor(t, 5*time.Second, "c sees a", hasState(c, "a", StateAlive))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// c accepts b's state (it has no cluster id), b refuses c's (it lists a).
	_, _ = c.Join(ctx, []string{b.LocalAddr()})
	// Let gossip and push/pull run for a while.
	time.Sleep(3 * time.Second)
	if _, ok := member(a, "b"); ok {
		t.Errorf("a (cluster-A) lists b (cluster-B): %+v", a.Members())
	}
	if _, ok := member(b, "a"); ok {
		t.Errorf("b (cluster-B) lists a (cluster-A): %+v", b.Members())
	}
}

func TestRejoinCandidates(t *testing.T) {
	d := newDelegate("self", func() Meta { return Meta{} }, nil, testLogger())
	for _, e := range []entry{
		{Member: Member{Name: "self", Addr: "10.0.0.1:9101", State: StateAlive}},
		{Member: Member{Name: "alive", Addr: "10.0.0.2:9101", State: StateAlive}},
		{Member: Member{Name: "dead", Addr: "10.0.0.3:9101", State: StateDead}},
		{Member: Member{Name: "left", Addr: "10.0.0.4:9101", State: StateLeft}},
	} {
		d.members[e.Name] = e
	}
	g := &Gossip{d: d, localAddr: "10.0.0.1:9101", fileAddrs: []string{
		"10.0.0.1:9101", // self
		"10.0.0.2:9101", // alive
		"10.0.0.3:9101", // dead, listed twice
		"10.0.0.4:9101", // left
		"10.0.0.5:9101", // only in the file
	}}
	got := g.rejoinCandidates()
	want := []string{"10.0.0.3:9101", "10.0.0.5:9101"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rejoinCandidates = %v, want %v", got, want)
	}
}
