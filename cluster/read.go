package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ReadBarrier returns once the local FSM has applied everything the leader
// had committed when ReadBarrier was called, so a read that follows sees
// every write acknowledged before it (linearizable reads). Concurrent
// barriers share one leadership confirmation. With ConsistencyLocal it
// returns at once.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if err := n.check(); err != nil {
		return err
	}
	if n.cfg.Consistency == ConsistencyLocal {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.applyTimeout)
	defer cancel()
	var (
		idx uint64
		err error
	)
	if n.raft.State() == raft.Leader {
		idx, err = n.ReadIndex(ctx)
	} else {
		idx, err = n.forwardedReadIndex(ctx)
	}
	if err != nil {
		return fmt.Errorf("cluster: read barrier: %w", err)
	}
	if err := n.waitApplied(ctx, idx); err != nil {
		return fmt.Errorf("cluster: read barrier: %w", err)
	}
	return nil
}

// ReadIndex is the leader's half of a read barrier: it confirms that this
// node is still the leader and returns the commit index observed before
// the confirmation. Calls that arrive while a confirmation is in flight
// share the next one. On a follower it fails with ErrNotLeader; the
// cluster RPC of a multi-node cluster serves it to followers.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if err := n.check(); err != nil {
		return 0, err
	}
	return n.awaitRound(ctx, n.reads)
}

// forwardedReadIndex is a follower's half of a read barrier: the leader's
// read index, asked once for all the barriers that arrive meanwhile.
func (n *Node) forwardedReadIndex(ctx context.Context) (uint64, error) {
	return n.awaitRound(ctx, n.fwdReads)
}

// awaitRound joins b's next round and waits for its read index, giving up
// when ctx ends or the node shuts down.
func (n *Node) awaitRound(ctx context.Context, b *readBatcher) (uint64, error) {
	r := b.join()
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, n.mapErr(ctx.Err())
	case <-n.shutdownCh:
		return 0, ErrShutdown
	}
}

// confirmReadIndex runs one leadership confirmation for a batch of
// readers. A new leader's commit index may lag entries committed by its
// predecessor until it commits an entry of its own term, so the first
// round of each term commits a barrier first.
func (n *Node) confirmReadIndex() (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, n.notLeaderError()
	}
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() != term {
		if err := n.raft.Barrier(n.applyTimeout).Error(); err != nil {
			return 0, n.mapErr(err)
		}
		if n.raft.CurrentTerm() != term {
			return 0, n.notLeaderError()
		}
		n.barrierTerm.Store(term)
	}
	idx := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, n.mapErr(err)
	}
	if n.raft.CurrentTerm() != term {
		return 0, n.notLeaderError()
	}
	return idx, nil
}

// readRound is one shared leadership confirmation.
type readRound struct {
	done  chan struct{}
	index uint64
	err   error
}

// readBatcher coalesces concurrent read-index requests. A caller always
// joins a round that has not started yet — the commit index a round
// observes must be read after every one of its callers arrived — so at
// most one round runs and one waits at any time.
type readBatcher struct {
	round func() (uint64, error)

	mu      sync.Mutex
	next    *readRound
	running bool
}

// join returns the round the caller waits for, starting the loop if idle.
func (b *readBatcher) join() *readRound {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == nil {
		b.next = &readRound{done: make(chan struct{})}
	}
	r := b.next
	if !b.running {
		b.running = true
		go b.loop()
	}
	return r
}

// loop runs rounds until nobody waits.
func (b *readBatcher) loop() {
	for {
		b.mu.Lock()
		r := b.next
		b.next = nil
		if r == nil {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		r.index, r.err = b.round()
		close(r.done)
	}
}

// maxPollDelay bounds the back-off of waitApplied's re-checks (log entries
// arriving on a follower do not notify it).
const maxPollDelay = 10 * time.Millisecond

// waitApplied returns once the local FSM has applied every command at or
// below index (see appliedThrough). It is woken by each FSM apply and
// re-checks with a short back-off.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	delay := time.Millisecond
	for {
		changed := n.sm.changed()
		done, err := n.appliedThrough(index)
		if err != nil || done {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for index %d (applied %d): %w", index, n.cfg.FSM.AppliedIndex(), n.mapErr(ctx.Err()))
		case <-n.shutdownCh:
			t.Stop()
			return ErrShutdown
		}
		t.Stop()
		delay = min(2*delay, maxPollDelay)
	}
}

// appliedThrough reports whether every command at or below index is in
// the local state. The FSM's applied index only moves with commands:
// raft's no-ops, barriers and configuration entries never reach it, so an
// index that names one of those counts as applied once every command
// before it is. Entries already compacted into a snapshot are in the
// state (the FSM took or restored that snapshot).
func (n *Node) appliedThrough(index uint64) (bool, error) {
	applied := n.cfg.FSM.AppliedIndex()
	if applied >= index {
		return true, nil
	}
	if err := n.cfg.FSM.Fatal(); err != nil {
		return false, fmt.Errorf("cluster: local state cannot catch up: %w", err)
	}
	// Until this node knows index is committed, its log may still hold
	// entries the leader will overwrite.
	if n.raft.CommitIndex() < index {
		return false, nil
	}
	first, err := n.logStore.FirstIndex()
	if err != nil {
		return false, fmt.Errorf("cluster: read first log index: %w", err)
	}
	for i := index; i > applied; i-- {
		if i < first {
			return true, nil
		}
		var l raft.Log
		if err := n.logStore.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return true, nil // compacted since FirstIndex was read
			}
			return false, fmt.Errorf("cluster: read log entry %d: %w", i, err)
		}
		if l.Type == raft.LogCommand {
			return false, nil
		}
	}
	return true, nil
}
