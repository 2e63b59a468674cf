// Package gossip wraps hashicorp/memberlist for strata: encrypted gossip
// keyed by the cluster key, node meta (raft address, URLs, cluster id),
// a member table that remembers dead and left members, refusal of members
// of another cluster, and a peers file so that a restarted node finds its
// cluster again without its original join targets.
package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// State is a member's gossip state.
type State string

// Member states. memberlist does not report the suspect state through its
// event hooks, so a member in suspicion shows as alive until it is
// declared dead.
const (
	StateAlive   State = "alive"
	StateSuspect State = "suspect"
	StateDead    State = "dead"
	StateLeft    State = "left"
)

// Member is one node as gossip knows it.
type Member struct {
	// Name is the member's node id.
	Name string
	// Addr is its gossip address, host:port.
	Addr  string
	Meta  Meta
	State State
	// Leaving: the member announced a graceful leave (AnnounceLeaving)
	// and is on its way out; it must not be added to the cluster again.
	Leaving bool
}

// errClosed is returned by calls on a closed Gossip.
var errClosed = errors.New("gossip is shut down")

// Gossip is a running gossip member.
type Gossip struct {
	cfg       Config
	ml        *memberlist.Memberlist
	d         *delegate
	localAddr string
	logger    *slog.Logger

	// fileAddrs are the addresses read from the peers file at Start.
	fileAddrs []string

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu serialises Leave, UpdateMeta and Close: memberlist panics on
	// Leave after Shutdown. closed is also read without mu by Join, which
	// the loops call while Close waits for them.
	mu     sync.Mutex
	closed atomic.Bool
}

// Start creates the member and starts listening; it does not join anyone
// (see Join and JoinRetry), except members listed in the peers file, which
// the rejoin loop contacts at once. ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Gossip, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	initial, err := encodeMeta(cfg.Meta(), false)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	logger := cfg.Logger.With("component", "gossip")
	d := newDelegate(cfg.NodeID, cfg.Meta, initial, logger)
	mc, err := memberlistConfig(ctx, cfg, d)
	if err != nil {
		return nil, err
	}
	fileAddrs, err := readPeersFile(cfg.PeersFile)
	if err != nil {
		// A damaged peers file only costs the automatic rejoin.
		logger.Warn("gossip: ignoring the peers file", "err", err)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.BindAddr, err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	g := &Gossip{
		cfg:       cfg,
		ml:        ml,
		d:         d,
		localAddr: nodeAddr(ml.LocalNode()),
		logger:    logger,
		fileAddrs: fileAddrs,
		cancel:    cancel,
	}
	if cfg.PeersFile != "" {
		g.wg.Add(1)
		go g.peersLoop(loopCtx)
	}
	g.wg.Add(1)
	go g.rejoinLoop(loopCtx)
	logger.Info("gossip: started", "node", cfg.NodeID, "addr", g.localAddr, "known_peers", len(fileAddrs))
	return g, nil
}

// LocalAddr is the gossip address other members reach this node at.
func (g *Gossip) LocalAddr() string { return g.localAddr }

// Join contacts each address once (host:port; a name resolves to all its
// addresses) and merges state with it. It returns how many answered; err
// is nil if at least one did, otherwise it joins one error per address,
// which wraps ErrWrongKey or ErrOtherCluster where that was the cause.
// Failures next to a success are logged, not returned.
func (g *Gossip) Join(ctx context.Context, addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, errors.New("gossip join: no addresses given")
	}
	if g.isClosed() {
		return 0, errClosed
	}
	n := 0
	var errs []error
	for _, addr := range addrs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("join %s: %w", addr, err))
			break
		}
		if addr == g.localAddr {
			errs = append(errs, fmt.Errorf("join %s: that is this node's own gossip address", addr))
			continue
		}
		c, err := g.joinOne(ctx, addr)
		n += c
		if err != nil {
			errs = append(errs, err)
		}
	}
	if n > 0 {
		for _, err := range errs {
			g.logger.Warn("gossip: join", "err", err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("gossip join: %w", errors.Join(errs...))
}

// joinOne joins one address. memberlist has no context, so the join runs
// aside; when ctx ends first it is abandoned and ends by itself within
// memberlist's TCP timeout.
func (g *Gossip) joinOne(ctx context.Context, addr string) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := g.ml.Join([]string{addr})
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return r.n, classifyJoinError(addr, r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("join %s: %w", addr, ctx.Err())
	}
}

// JoinRetry calls Join until one address answers or ctx ends, waiting
// interval between passes. It gives up at once on ErrWrongKey or
// ErrOtherCluster: retrying cannot fix the configuration.
func (g *Gossip) JoinRetry(ctx context.Context, addrs []string, interval time.Duration) (int, error) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := g.Join(ctx, addrs)
		if err == nil {
			return n, nil
		}
		if errors.Is(err, ErrWrongKey) || errors.Is(err, ErrOtherCluster) || errors.Is(err, errClosed) {
			return 0, err
		}
		g.logger.Info("gossip: join failed, retrying", "addrs", strings.Join(addrs, ","), "in", interval, "err", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("gossip join %s: gave up (%w): last error: %w", strings.Join(addrs, ","), ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Members returns every member known, this node included, sorted by name.
// Dead and left members stay until a new incarnation replaces them or
// Forget drops them.
func (g *Gossip) Members() []Member {
	g.d.mu.Lock()
	out := make([]Member, 0, len(g.d.members))
	for _, e := range g.d.members {
		m := e.Member
		m.Leaving = e.leaving
		out = append(out, m)
	}
	g.d.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Forget drops a dead or left member from the table (after it was removed
// from the cluster); it reports whether there was such a member.
func (g *Gossip) Forget(name string) bool { return g.d.forget(name) }

// Changed returns a channel that is closed at the next change of the
// member table (a join, leave, death or meta update). Call it again after
// each wake-up for the next change.
func (g *Gossip) Changed() <-chan struct{} {
	g.d.mu.Lock()
	defer g.d.mu.Unlock()
	return g.d.changed
}

// UpdateMeta re-reads the local meta and broadcasts it; it waits until the
// broadcast went out or ctx ends (5s if ctx has no deadline).
func (g *Gossip) UpdateMeta(ctx context.Context) error {
	if _, err := encodeMeta(g.cfg.Meta(), false); err != nil {
		return fmt.Errorf("gossip update meta: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return errClosed
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return fmt.Errorf("gossip update meta: %w", context.DeadlineExceeded)
	}
	if err := g.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("gossip update meta: %w", err)
	}
	return nil
}

// AnnounceLeaving tells the other members, through this node's meta, that
// it is about to leave, before it is removed from the raft configuration:
// otherwise the leader's autopilot would see an alive member missing from
// the configuration and add it right back.
func (g *Gossip) AnnounceLeaving(ctx context.Context) error {
	g.d.leaving.Store(true)
	return g.UpdateMeta(ctx)
}

// CancelLeaving withdraws AnnounceLeaving after a leave that failed.
func (g *Gossip) CancelLeaving(ctx context.Context) error {
	g.d.leaving.Store(false)
	return g.UpdateMeta(ctx)
}

// Leave announces a graceful leave (the others see this node as "left"),
// waiting up to timeout (5s if ≤ 0) for the broadcasts, then shuts down.
// The peers file is removed, so a node that left does not rejoin by itself
// when started again: Leave is for `strata leave`; an ordinary shutdown
// or restart uses Close.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return errClosed
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	// Announce the leave in the meta first: the others' leave hook cannot
	// tell a leave from a death otherwise. A failure here only costs the
	// distinction, so the leave goes on.
	start := time.Now()
	g.d.leaving.Store(true)
	if err := g.ml.UpdateNode(timeout); err != nil {
		g.logger.Warn("gossip: leaving flag not broadcast", "err", err)
	}
	timeout = max(timeout-time.Since(start), time.Millisecond)
	leaveErr := g.ml.Leave(timeout)
	if leaveErr != nil {
		leaveErr = fmt.Errorf("gossip leave: %w", leaveErr)
	}
	err := g.closeLocked()
	if leaveErr == nil && g.cfg.PeersFile != "" {
		if rmErr := removePeersFile(g.cfg.PeersFile); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}
	return errors.Join(leaveErr, err)
}

// Close shuts down without announcing a leave: the others will declare
// this node dead. It is safe to call more than once.
func (g *Gossip) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return nil
	}
	return g.closeLocked()
}

func (g *Gossip) closeLocked() error {
	g.closed.Store(true)
	g.cancel()
	g.wg.Wait()
	if err := g.ml.Shutdown(); err != nil {
		return fmt.Errorf("gossip shutdown: %w", err)
	}
	return nil
}

func (g *Gossip) isClosed() bool { return g.closed.Load() }
