package gossip

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// delegate implements memberlist's hooks: it serves the local meta, keeps
// the member table from join/leave/update events, and refuses members of
// other clusters. memberlist calls event hooks with its node lock held, so
// nothing here calls back into memberlist.
type delegate struct {
	self   string
	meta   func() Meta
	logger *slog.Logger
	// leaving is set before a graceful leave and gossiped in the meta.
	leaving atomic.Bool

	mu sync.Mutex
	// lastMeta is the last encoding that fit, served if a later Meta no
	// longer fits (memberlist panics on oversized meta).
	lastMeta []byte
	// members holds everyone ever seen, dead and left ones included,
	// until a new incarnation replaces the entry or Forget drops it.
	members map[string]entry
	changed chan struct{}
	// dirty wakes the peers file writer; capacity 1 coalesces bursts.
	dirty chan struct{}
}

// entry is a member table row.
type entry struct {
	Member
	// leaving: the member's last meta announced a graceful leave.
	leaving bool
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.MergeDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
)

func newDelegate(self string, meta func() Meta, initial []byte, logger *slog.Logger) *delegate {
	return &delegate{
		self:     self,
		meta:     meta,
		logger:   logger,
		lastMeta: initial,
		members:  make(map[string]entry),
		changed:  make(chan struct{}),
		dirty:    make(chan struct{}, 1),
	}
}

// NodeMeta returns the encoded local meta.
func (d *delegate) NodeMeta(limit int) []byte {
	b, err := encodeMeta(d.meta(), d.leaving.Load())
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && len(b) > limit {
		err = errTooLong(len(b), limit)
	}
	if err != nil {
		d.logger.Error("gossip: keeping the previous node meta", "err", err)
		return d.lastMeta
	}
	d.lastMeta = b
	return b
}

// NotifyMsg ignores user messages: strata sends none.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts has nothing to broadcast.
func (d *delegate) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState has no user state to exchange.
func (d *delegate) LocalState(bool) []byte { return nil }

// MergeRemoteState ignores remote user state (there is none).
func (d *delegate) MergeRemoteState([]byte, bool) {}

// NotifyJoin records a member that became alive (new, or back from dead).
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.record(n, false) }

// NotifyUpdate records a member whose meta changed.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.record(n, false) }

// NotifyLeave records a member that died or left. The node memberlist
// passes says alive either way (its State field is not the one memberlist
// updates), so a leave is told by the leaving flag in the last meta.
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.record(n, true) }

// record stores n, alive or (gone) dead/left, and wakes the watchers.
func (d *delegate) record(n *memberlist.Node, gone bool) {
	meta, leaving, err := decodeMeta(n.Meta)
	if err != nil {
		d.logger.Warn("gossip: member sent unreadable meta", "member", n.Name, "err", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, known := d.members[n.Name]
	if known && err != nil {
		meta, leaving = old.Meta, old.leaving
	}
	e := entry{Member: Member{Name: n.Name, Addr: nodeAddr(n), Meta: meta, State: StateAlive}, leaving: leaving}
	if gone {
		e.State = StateDead
		if leaving || (known && old.leaving) {
			e.State = StateLeft
		}
	}
	d.members[n.Name] = e
	d.signalLocked()
}

// forget drops a member that is not alive; it reports whether it did.
func (d *delegate) forget(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.members[name]
	if !ok || m.State == StateAlive || name == d.self {
		return false
	}
	delete(d.members, name)
	d.signalLocked()
	return true
}

// signalLocked wakes Changed() watchers and the peers writer.
func (d *delegate) signalLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// NotifyMerge refuses a push/pull with a cluster whose id differs from ours.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.check(p); err != nil {
			d.logger.Warn("gossip: refused merge", "err", err)
			return err
		}
	}
	return nil
}

// NotifyAlive ignores alive messages of members of another cluster, so a
// stray member cannot creep in through gossip either.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	return d.check(peer)
}

// check returns an error wrapping ErrOtherCluster if p belongs to another
// cluster than ours; a node that has no cluster id yet is acceptable.
func (d *delegate) check(p *memberlist.Node) error {
	if p.Name == d.self {
		return nil
	}
	ours := d.meta().ClusterID
	if ours == "" {
		return nil
	}
	meta, _, err := decodeMeta(p.Meta)
	if err != nil {
		return newOtherClusterError(p.Name, nodeAddr(p), "(unreadable meta: "+err.Error()+")", ours)
	}
	if meta.ClusterID != "" && meta.ClusterID != ours {
		return newOtherClusterError(p.Name, nodeAddr(p), meta.ClusterID, ours)
	}
	return nil
}

// nodeAddr is the member's gossip address as host:port.
func nodeAddr(n *memberlist.Node) string {
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}
