package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// MaxVoters is how many voters the autopilot keeps: five tolerate two
// failures; more only slow every commit down. Further nodes stay
// non-voters (they replicate and serve reads) and are promoted when a
// voter leaves.
const MaxVoters = 5

// Autopilot defaults.
const (
	// DefaultAutopilotInterval is how often the leader reconciles even
	// without a gossip event (a change that failed is retried then).
	DefaultAutopilotInterval = 2 * time.Second
	// DefaultStabilization is how long a new member must be reachable and
	// caught up before it becomes a voter.
	DefaultStabilization = 2 * time.Second
	// DefaultPromoteLag is how many entries a non-voter may be behind the
	// leader's state and still be promoted.
	DefaultPromoteLag = 1024
	// probeTimeout bounds one status probe of a member.
	probeTimeout = time.Second
)

// Probe asks the node at a raft address for its own status over the
// cluster RPC. The autopilot never changes the configuration on gossip's
// word alone: the address must answer with the member's id, from this
// cluster (or from no cluster yet).
type Probe func(ctx context.Context, raftAddr string) (NodeStatus, error)

// Autopilot turns gossip members into raft servers on the leader. Create
// it with NewAutopilot and run it with Run.
type Autopilot struct {
	n             *Node
	peers         func() []Peer
	changed       func() <-chan struct{}
	probe         Probe
	interval      time.Duration
	stabilization time.Duration
	promoteLag    uint64

	mu           sync.Mutex
	healthySince map[string]time.Time // non-voters seen caught up, by id
}

// AutopilotConfig configures an Autopilot; zero values are defaults.
type AutopilotConfig struct {
	// Peers returns the gossip members; Changed fires when they change.
	Peers   func() []Peer
	Changed func() <-chan struct{}
	// Probe checks a member before any change that involves it. Nil
	// (tests of this package) trusts gossip and adds voters directly.
	Probe         Probe
	Interval      time.Duration
	Stabilization time.Duration
	PromoteLag    uint64
}

// NewAutopilot returns the autopilot of node n.
func (n *Node) NewAutopilot(cfg AutopilotConfig) *Autopilot {
	a := &Autopilot{
		n: n, peers: cfg.Peers, changed: cfg.Changed, probe: cfg.Probe,
		interval: cfg.Interval, stabilization: cfg.Stabilization, promoteLag: cfg.PromoteLag,
		healthySince: map[string]time.Time{},
	}
	if a.interval <= 0 {
		a.interval = DefaultAutopilotInterval
	}
	if a.stabilization <= 0 {
		a.stabilization = DefaultStabilization
	}
	if a.promoteLag == 0 {
		a.promoteLag = DefaultPromoteLag
	}
	return a
}

// Run keeps the raft configuration in line with gossip until ctx ends:
// whenever gossip changes, and every interval, the leader reconciles.
// Followers do nothing. It is what turns `strata server --join` and
// `strata join` into raft membership.
func (a *Autopilot) Run(ctx context.Context) {
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		// Taken before the pass, so a change during it is not missed.
		changed := a.changed()
		if a.n.IsLeader() {
			if err := a.Reconcile(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrShutdown) {
				a.n.logger.Warn("autopilot: reconcile incomplete; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-a.n.shutdownCh:
			return
		case <-changed:
		case <-t.C:
		}
	}
}

// Reconcile makes one pass on the leader (a no-op on followers):
//
//   - an alive member missing from the configuration joins as a non-voter,
//     once its raft address answers with its id and it belongs to this
//     cluster or to none yet;
//   - a non-voter becomes a voter while there are fewer than MaxVoters,
//     once it has been reachable and caught up for the stabilization
//     period — so a joiner that cannot be reached, or is still installing
//     a snapshot, never costs the cluster its quorum;
//   - an entry whose id or address conflicts with an alive member's (a node
//     back under a new address; an address now used by another id) is
//     removed first, but only when the address itself confirms the member;
//   - a voter that answers with no raft state lost its data directory: it
//     is demoted (removed and added back as a non-voter) until it caught up
//     again, since it no longer remembers its votes;
//   - a member that left, or announced it is leaving, is removed (never
//     added). A member that failed stays until an operator removes it.
func (a *Autopilot) Reconcile(ctx context.Context) error {
	n := a.n
	if !n.IsLeader() {
		return nil
	}
	servers, err := n.Servers(ctx)
	if err != nil {
		return err
	}
	st := newConfigState(servers)
	peers := a.peers()
	sort.Slice(peers, func(i, j int) bool { return peers[i].ID < peers[j].ID })
	var errs []error
	for _, p := range peers {
		if p.ID == n.cfg.NodeID || p.ID == "" || p.RaftAddr == "" {
			continue
		}
		if err := a.reconcileOne(ctx, st, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// configState is the configuration as a pass changes it.
type configState struct {
	byID, byAddr map[string]ServerInfo
	voters       int
}

func newConfigState(servers []ServerInfo) *configState {
	c := &configState{byID: map[string]ServerInfo{}, byAddr: map[string]ServerInfo{}}
	for _, s := range servers {
		c.byID[s.ID], c.byAddr[s.Address] = s, s
		if s.Voter {
			c.voters++
		}
	}
	return c
}

func (c *configState) drop(s ServerInfo) {
	delete(c.byID, s.ID)
	delete(c.byAddr, s.Address)
	if s.Voter {
		c.voters--
	}
}

func (c *configState) put(s ServerInfo) {
	c.byID[s.ID], c.byAddr[s.Address] = s, s
	if s.Voter {
		c.voters++
	}
}

// reconcileOne applies the rules of Reconcile to one member.
func (a *Autopilot) reconcileOne(ctx context.Context, st *configState, p Peer) error {
	s, known := st.byID[p.ID]
	if p.Left {
		a.forgetHealth(p.ID)
		if known {
			return a.remove(ctx, st, s, "member left the cluster")
		}
		return nil
	}
	if !p.Alive {
		a.forgetHealth(p.ID)
		return nil
	}
	status, err := a.check(ctx, p)
	if errors.Is(err, errNotYet) {
		// Added, but it has not applied the cluster's first entries yet.
		return nil
	}
	if err != nil {
		a.forgetHealth(p.ID)
		if known && errors.Is(err, errOtherCluster) {
			return errors.Join(err, a.remove(ctx, st, s, "member belongs to another cluster"))
		}
		return err
	}
	if known && s.Address == p.RaftAddr {
		if s.Voter && a.probe != nil && !status.HasState {
			if err := a.remove(ctx, st, s, "voter came back without its raft state"); err != nil {
				return err
			}
			return a.add(ctx, st, p, false, "re-added as a non-voter until it caught up")
		}
		if !s.Voter {
			return a.maybePromote(ctx, st, p, status)
		}
		return nil
	}
	if known {
		if err := a.remove(ctx, st, s, "member now has raft address "+p.RaftAddr); err != nil {
			return err
		}
	}
	if o, taken := st.byAddr[p.RaftAddr]; taken {
		if o.ID == a.n.cfg.NodeID {
			return fmt.Errorf("autopilot: member %s advertises this leader's own raft address %s; not added", p.ID, p.RaftAddr)
		}
		// The address answered with p's id (check), so o's entry is stale.
		if err := a.remove(ctx, st, o, "its address now belongs to member "+p.ID); err != nil {
			return err
		}
	}
	return a.add(ctx, st, p, a.probe == nil && st.voters < MaxVoters, "new gossip member")
}

// Probe outcomes that are not failures of the pass.
var (
	// errOtherCluster: a probed member holds another cluster's state.
	errOtherCluster = errors.New("member belongs to another cluster")
	// errNotYet: a member has raft state but not this cluster's id yet (a
	// new member between its first log entries and InitCluster).
	errNotYet = errors.New("member has not caught up with the cluster yet")
)

// check probes p's raft address: it must answer with p's id, and hold
// this cluster's state or no state at all. Without a probe it trusts
// gossip.
func (a *Autopilot) check(ctx context.Context, p Peer) (NodeStatus, error) {
	if a.probe == nil {
		return NodeStatus{NodeID: p.ID, HasState: true}, nil
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	st, err := a.probe(pctx, p.RaftAddr)
	if err != nil {
		return st, fmt.Errorf("autopilot: member %s at %s does not answer: %w", p.ID, p.RaftAddr, err)
	}
	if st.NodeID != p.ID {
		return st, fmt.Errorf("autopilot: member %s advertises raft address %s, which belongs to node %s; not added (check its --advertise)",
			p.ID, p.RaftAddr, st.NodeID)
	}
	mine, _, err := a.n.cfg.FSM.Config()
	if err != nil {
		return st, fmt.Errorf("autopilot: read cluster config: %w", err)
	}
	switch {
	case st.ClusterID == mine.ClusterID:
	case st.ClusterID == "" && !st.HasState:
	case st.ClusterID == "":
		return st, fmt.Errorf("autopilot: member %s: %w", p.ID, errNotYet)
	default:
		return st, fmt.Errorf("%w: member %s holds cluster %s, this cluster is %s", errOtherCluster, p.ID, st.ClusterID, mine.ClusterID)
	}
	return st, nil
}

// maybePromote makes non-voter p a voter once it has been caught up for
// the stabilization period and there is room.
func (a *Autopilot) maybePromote(ctx context.Context, st *configState, p Peer, status NodeStatus) error {
	if st.voters >= MaxVoters {
		return nil
	}
	applied := a.n.cfg.FSM.AppliedIndex()
	if a.probe != nil && status.AppliedIndex+a.promoteLag < applied {
		a.forgetHealth(p.ID)
		return nil
	}
	if a.probe != nil && !a.stableFor(p.ID, a.stabilization) {
		return nil
	}
	return a.change(ctx, st, "promote", p.ID, p.RaftAddr, true, "caught up; fewer than the maximum number of voters")
}

// stableFor records that id is healthy now and reports whether it has been
// for at least d.
func (a *Autopilot) stableFor(id string, d time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	since, ok := a.healthySince[id]
	if !ok {
		a.healthySince[id] = time.Now()
		return false
	}
	return time.Since(since) >= d
}

func (a *Autopilot) forgetHealth(id string) {
	a.mu.Lock()
	delete(a.healthySince, id)
	a.mu.Unlock()
}

func (a *Autopilot) remove(ctx context.Context, st *configState, s ServerInfo, why string) error {
	if err := a.n.changeConfig(ctx, "remove", s.ID, "", why); err != nil {
		return err
	}
	st.drop(s)
	a.forgetHealth(s.ID)
	return nil
}

func (a *Autopilot) add(ctx context.Context, st *configState, p Peer, voter bool, why string) error {
	op := "add non-voter"
	if voter {
		op = "add voter"
	}
	return a.change(ctx, st, op, p.ID, p.RaftAddr, voter, why)
}

func (a *Autopilot) change(ctx context.Context, st *configState, op, id, addr string, voter bool, why string) error {
	if err := a.n.changeConfig(ctx, op, id, addr, why); err != nil {
		return err
	}
	st.put(ServerInfo{ID: id, Address: addr, Voter: voter})
	return nil
}

// changeConfig runs one configuration change on the leader and logs it.
func (n *Node) changeConfig(ctx context.Context, op, id, addr, why string) error {
	timeout := enqueueTimeout(ctx)
	var f raft.IndexFuture
	switch op {
	case "remove":
		f = n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	case "add non-voter":
		f = n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	default: // add voter, promote
		f = n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	}
	if err := n.await(ctx, f); err != nil {
		return fmt.Errorf("autopilot: %s %s: %w", op, id, n.mapErr(err))
	}
	n.logger.Info("autopilot: raft configuration changed", "op", op, "id", id, "address", addr, "why", why)
	return nil
}
