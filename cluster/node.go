package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// storeOpenTimeout bounds the wait for raft.db's file lock, so a second
// process on the same data directory fails fast instead of hanging.
const storeOpenTimeout = 2 * time.Second

// Node is one raft server driving one fsm.FSM. Create it with New, then
// Open, then Bootstrap (a new single-node cluster) — the other methods need
// an open node. All methods are safe for concurrent use once Open returned.
type Node struct {
	cfg          Config
	logger       *slog.Logger
	applyTimeout time.Duration

	// Set by Open, read-only afterwards.
	raft      *raft.Raft
	boltStore *raftboltdb.BoltStore
	logStore  raft.LogStore
	snaps     *raft.FileSnapshotStore
	transport *raft.NetworkTransport
	sm        *notifyingFSM

	reads    *readBatcher // leader: shared leadership confirmations
	fwdReads *readBatcher // follower: shared read-index requests to the leader
	leaders  *signal      // broadcast on every leader change raft observes
	// barrierTerm is the term in which this node, as leader, last
	// committed a barrier; read indexes are only valid after one.
	barrierTerm atomic.Uint64

	mu         sync.Mutex // guards opened and closed
	opened     bool
	closed     bool
	shutdownCh chan struct{}
}

// New checks cfg and returns a node that is not yet open.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Consistency == "" {
		cfg.Consistency = ConsistencyStrong
	}
	n := &Node{
		cfg:          cfg,
		logger:       cfg.Logger.With("component", "cluster", "node", cfg.NodeID),
		applyTimeout: cfg.ApplyTimeout,
		shutdownCh:   make(chan struct{}),
	}
	if n.applyTimeout <= 0 {
		n.applyTimeout = DefaultApplyTimeout
	}
	n.reads = &readBatcher{round: n.confirmReadIndex}
	n.fwdReads = &readBatcher{round: n.readIndexRouted}
	n.leaders = newSignal()
	return n, nil
}

// Open creates or opens the raft stores under DataDir/raft, starts the
// transport and starts raft. A node with existing state rejoins its
// configuration; a new one waits for Bootstrap.
func (n *Node) Open(ctx context.Context) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cluster: open: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrShutdown
	case n.opened:
		return errors.New("cluster: node is already open")
	}
	hlog := newHclogAdapter(n.cfg.Logger, "raft")
	defer func() {
		if err != nil {
			n.closeStores()
		}
	}()
	if err := n.openStores(hlog); err != nil {
		return err
	}
	if err := n.catchUpFromSnapshot(); err != nil {
		return err
	}
	if n.transport, err = newTransport(n.cfg, hlog); err != nil {
		return err
	}
	rc, err := n.raftConfig(hlog)
	if err != nil {
		return err
	}
	n.sm = newNotifyingFSM(n.cfg.FSM)
	r, err := raft.NewRaft(rc, n.sm, n.logStore, n.boltStore, n.snaps, n.transport)
	if err != nil {
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raft = r
	n.opened = true
	n.observeLeader()
	n.logger.Info("raft started", "bind", n.transport.LocalAddr(), "data_dir", n.cfg.DataDir,
		"fsm_applied_index", n.cfg.FSM.AppliedIndex())
	return nil
}

// openStores opens raft.db (log and stable store, with a log cache in
// front) and the snapshot store.
func (n *Node) openStores(hlog hclog.Logger) error {
	dir := filepath.Join(n.cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "raft.db")
	bs, err := raftboltdb.New(raftboltdb.Options{
		Path:        path,
		BoltOptions: &bbolt.Options{Timeout: storeOpenTimeout, NoFreelistSync: true},
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("cluster: open %s: file is locked (is another strata using this data directory?): %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("cluster: open %s: %w", path, err)
	}
	n.boltStore = bs
	if n.logStore, err = raft.NewLogCache(defaultLogCacheSize, bs); err != nil {
		return fmt.Errorf("cluster: log cache: %w", err)
	}
	snapDir := filepath.Join(dir, "snapshots")
	// The file snapshot store puts its own "snapshots" folder under base.
	if n.snaps, err = raft.NewFileSnapshotStoreWithLogger(dir, defaultRetainSnapshots, hlog); err != nil {
		return fmt.Errorf("cluster: snapshot store %s: %w", snapDir, err)
	}
	return nil
}

// catchUpFromSnapshot restores the newest snapshot into the FSM when it is
// ahead of the FSM's own file (a data directory whose state file was lost
// or replaced by an empty one). Raft itself never restores on start (see
// DESIGN.md): doing it unconditionally would move a newer state file back.
func (n *Node) catchUpFromSnapshot() error {
	metas, err := n.snaps.List()
	if err != nil {
		return fmt.Errorf("cluster: list snapshots: %w", err)
	}
	applied := n.cfg.FSM.AppliedIndex()
	if len(metas) == 0 || metas[0].Index <= applied {
		return nil
	}
	meta := metas[0]
	n.logger.Warn("state file is behind the newest snapshot; restoring the snapshot",
		"fsm_applied_index", applied, "snapshot", meta.ID, "snapshot_index", meta.Index)
	_, rc, err := n.snaps.Open(meta.ID)
	if err != nil {
		return fmt.Errorf("cluster: open snapshot %s: %w", meta.ID, err)
	}
	// fsm.Restore closes rc.
	if err := n.cfg.FSM.Restore(rc); err != nil {
		return fmt.Errorf("cluster: restore snapshot %s into the state file: %w", meta.ID, err)
	}
	return nil
}

// raftConfig builds raft's configuration from Config.
func (n *Node) raftConfig(hlog hclog.Logger) (*raft.Config, error) {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.Logger = hlog
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = defaultMaxAppendEntries
	// The state file is the persistent state; raft replays only entries
	// after the newest snapshot and the FSM skips those it already has.
	rc.NoSnapshotRestoreOnStart = true
	setIf(&rc.SnapshotInterval, n.cfg.SnapshotInterval)
	setIf(&rc.SnapshotThreshold, n.cfg.SnapshotThreshold)
	setIf(&rc.TrailingLogs, n.cfg.TrailingLogs)
	setIf(&rc.HeartbeatTimeout, n.cfg.HeartbeatTimeout)
	setIf(&rc.ElectionTimeout, n.cfg.ElectionTimeout)
	// A follower learns that an entry committed with the leader's next
	// AppendEntries: at once under load, but on an idle cluster only after
	// CommitTimeout (raft's default 50 ms). A follower answers a forwarded
	// write only once it applied it itself, so that wait is on every such
	// write; 5 ms costs a few hundred tiny messages a second per follower.
	rc.CommitTimeout = defaultCommitTimeout
	setIf(&rc.CommitTimeout, n.cfg.CommitTimeout)
	if n.cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	} else if rc.LeaderLeaseTimeout > rc.HeartbeatTimeout {
		rc.LeaderLeaseTimeout = rc.HeartbeatTimeout
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("cluster: raft config: %w", err)
	}
	return rc, nil
}

// setIf overwrites *dst with v unless v is the zero value.
func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// Bootstrap makes this node the single voter of a new cluster. It is a
// no-op when the node already has raft state (it was bootstrapped or
// joined before), so it is safe on every start.
func (n *Node) Bootstrap(ctx context.Context) error {
	if err := n.check(); err != nil {
		return err
	}
	has, err := raft.HasExistingState(n.logStore, n.boltStore, n.snaps)
	if err != nil {
		return fmt.Errorf("cluster: check existing state: %w", err)
	}
	if has {
		n.logger.Debug("raft state exists; bootstrap skipped")
		return nil
	}
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       raft.ServerID(n.cfg.NodeID),
		Address:  n.transport.LocalAddr(),
	}}}
	err = n.await(ctx, n.raft.BootstrapCluster(conf))
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("cluster: bootstrap: %w", n.mapErr(err))
	}
	n.logger.Info("bootstrapped single-voter cluster", "address", n.transport.LocalAddr())
	return nil
}

// check returns ErrNotOpen or ErrShutdown when raft cannot be used.
func (n *Node) check() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrShutdown
	case !n.opened:
		return ErrNotOpen
	}
	return nil
}

// isClosed reports whether Close was called.
func (n *Node) isClosed() bool {
	select {
	case <-n.shutdownCh:
		return true
	default:
		return false
	}
}

// Close shuts raft down and closes the transport and the raft stores. The
// FSM stays open (its owner closes it). Pending Apply and ReadBarrier calls
// return ErrShutdown. Close is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.shutdownCh)
	opened := n.opened
	n.mu.Unlock()
	if !opened {
		return nil
	}
	var errs []error
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: raft shutdown: %w", err))
	}
	errs = append(errs, n.closeStores())
	return errors.Join(errs...)
}

// closeStores closes what Open opened (also on a failed Open).
func (n *Node) closeStores() error {
	var errs []error
	if n.transport == nil && n.cfg.Listener != nil {
		// Open failed before the transport took the listener over.
		_ = n.cfg.Listener.Close()
	}
	if n.transport != nil {
		if err := n.transport.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: close transport: %w", err))
		}
	}
	if n.boltStore != nil {
		if err := n.boltStore.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: close raft.db: %w", err))
		}
	}
	return errors.Join(errs...)
}
