package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratagw/strata/fsm"
)

// LeaderClient is the seam for leader forwarding: a follower hands writes,
// read-index requests and membership changes to the leader through it.
// The cluster RPC (package cluster/rpc) implements it; the leader answers
// with Node.ApplyLocal, Node.ReadIndex and Node.RemoveServer.
//
// Error contract: an error wrapping ErrNotLeader (the peer refused, it is
// not the leader) or ErrNotSent (the request never reached the peer) means
// nothing was submitted, so the node may retry with the current leader.
// Any other error is ambiguous: a forwarded command may still be applied.
type LeaderClient interface {
	// Apply submits an encoded command (fsm.Encode) to the leader at
	// leaderAddr and returns the leader's result, whose Index the follower
	// then waits for locally.
	Apply(ctx context.Context, leaderAddr string, cmd []byte) (fsm.Result, error)
	// ReadIndex asks the leader at leaderAddr for its confirmed commit
	// index (see Node.ReadIndex).
	ReadIndex(ctx context.Context, leaderAddr string) (uint64, error)
	// RemoveServer asks the leader at leaderAddr to remove server id from
	// the raft configuration.
	RemoveServer(ctx context.Context, leaderAddr, id string) error
}

// retryDelay is the pause before asking again after a refusal or while no
// leader is known: about one election's worth of polling granularity.
const retryDelay = 20 * time.Millisecond

// ApplyLocal applies an encoded command on this node only if it is the
// leader: it never forwards, so a command that hops between nodes during
// an election cannot loop. A follower answers ErrNotLeader without
// submitting anything. The cluster RPC serves forwarded writes with it.
func (n *Node) ApplyLocal(ctx context.Context, cmd []byte) (fsm.Result, error) {
	if err := n.check(); err != nil {
		return fsm.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.applyTimeout)
	defer cancel()
	if n.raft.State() != raft.Leader {
		return fsm.Result{}, n.notLeaderError()
	}
	return n.applyAsLeader(ctx, cmd)
}

// applyAsLeader submits cmd to raft on this (leader) node and waits for the
// local FSM's answer.
func (n *Node) applyAsLeader(ctx context.Context, cmd []byte) (fsm.Result, error) {
	f := n.raft.Apply(cmd, enqueueTimeout(ctx))
	if err := n.await(ctx, f); err != nil {
		return fsm.Result{}, fmt.Errorf("cluster: apply: %w", n.mapErr(err))
	}
	return resultOf(f.Response())
}

// applyRouted is Apply on any node: on the leader it goes to raft, on a
// follower to the leader. While no leader is known, or the addressed node
// refused or never saw the request, it waits and tries again until ctx
// ends (elections are short; the client gets 503 after the apply
// timeout). An ambiguous failure is never retried: the command may have
// been applied, and applying it twice is not the same as once.
func (n *Node) applyRouted(ctx context.Context, cmd []byte) (fsm.Result, error) {
	return route(ctx, n, routed[fsm.Result]{
		what:  "cluster: apply",
		local: func(ctx context.Context) (fsm.Result, error) { return n.applyAsLeader(ctx, cmd) },
		remote: func(ctx context.Context, addr, id string) (fsm.Result, error) {
			return n.forwardApply(ctx, addr, id, cmd)
		},
		retryLocal:  refused,
		retryRemote: retryable,
	})
}

// routed is one operation that runs on the leader: locally when this node
// leads, else through the LeaderClient.
type routed[T any] struct {
	what   string // prefixes the error when ctx ends first ("": none)
	local  func(ctx context.Context) (T, error)
	remote func(ctx context.Context, addr, id string) (T, error)
	// retryLocal and retryRemote tell which failures prove that trying
	// again (with whoever leads then) is safe.
	retryLocal, retryRemote func(error) bool
}

// route runs op on the leader. While no leader is known, or after a
// failure op says may be retried, it waits retryDelay and routes again,
// until ctx ends.
func route[T any](ctx context.Context, n *Node, op routed[T]) (T, error) {
	var zero T
	var lastErr error
	for {
		if n.raft.State() == raft.Leader {
			v, err := op.local(ctx)
			if err == nil || !op.retryLocal(err) {
				return v, err
			}
			lastErr = err
		} else {
			addr, id := n.raft.LeaderWithID()
			switch {
			case n.cfg.LeaderClient == nil:
				return zero, n.notLeaderError()
			case addr == "":
				lastErr = n.notLeaderError()
			default:
				v, err := op.remote(ctx, string(addr), string(id))
				if err == nil || !op.retryRemote(err) {
					return v, err
				}
				lastErr = err
			}
		}
		if err := n.pause(ctx, retryDelay); err != nil {
			if op.what == "" {
				return zero, fmt.Errorf("%w (last attempt: %w)", err, lastErr)
			}
			return zero, fmt.Errorf("%s: %w (last attempt: %w)", op.what, err, lastErr)
		}
	}
}

// refused reports whether this node, as leader, refused before submitting
// anything: raft's own ErrNotLeader (it stepped down, or a leadership
// transfer is in progress). The operation may go to whoever leads next.
func refused(err error) bool { return errors.Is(err, ErrNotLeader) }

// always: the operation is idempotent, any failure may be retried.
func always(error) bool { return true }

// never: the caller gets the leader's answer as it is.
func never(error) bool { return false }

// forwardApply sends cmd to the leader at addr and then waits until the
// local state has it, so the caller reads its own write on this node. If
// the leader changes while the request is in flight the request is
// abandoned: the old leader may be gone for good (a killed host never
// answers), and the outcome is reported as ambiguous.
func (n *Node) forwardApply(ctx context.Context, addr, id string, cmd []byte) (fsm.Result, error) {
	fctx, stop := n.cancelOnLeaderChange(ctx, addr)
	res, err := n.cfg.LeaderClient.Apply(fctx, addr, cmd)
	changed := stop()
	if err != nil {
		if changed && !retryable(err) {
			return res, fmt.Errorf("%w: leader %s at %s was replaced while the forwarded command was in flight; it may or may not be applied: %v",
				ErrTimeout, id, addr, err)
		}
		return res, fmt.Errorf("forward command to leader %s at %s: %w", id, addr, err)
	}
	if werr := n.waitApplied(ctx, res.Index); werr != nil {
		return res, fmt.Errorf("wait for forwarded command at index %d: %w", res.Index, werr)
	}
	if res.Err != nil {
		return res, res.Err
	}
	return res, nil
}

// retryable reports whether err proves that nothing was submitted.
func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNotSent)
}

// pause sleeps d unless ctx ends or the node shuts down first.
func (n *Node) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return n.mapErr(ctx.Err())
	case <-n.shutdownCh:
		return ErrShutdown
	}
}

// readIndexRouted is a follower's read-index round: ask the leader, retrying
// while there is none or it refuses (reads are idempotent, so any failure
// may be retried) until the apply timeout.
func (n *Node) readIndexRouted() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), n.applyTimeout)
	defer cancel()
	return route(ctx, n, routed[uint64]{
		// No prefix: ReadBarrier names the operation.
		local: n.ReadIndex,
		remote: func(ctx context.Context, addr, id string) (uint64, error) {
			fctx, stop := n.cancelOnLeaderChange(ctx, addr)
			defer stop()
			idx, err := n.cfg.LeaderClient.ReadIndex(fctx, addr)
			if err != nil {
				return 0, fmt.Errorf("read index from leader %s at %s: %w", id, addr, err)
			}
			return idx, nil
		},
		retryLocal:  refused,
		retryRemote: always,
	})
}

// removeServerRouted removes id from the configuration through the leader.
func (n *Node) removeServerRouted(ctx context.Context, id string) error {
	_, err := route(ctx, n, routed[struct{}]{
		what:  "cluster: remove server " + id,
		local: func(ctx context.Context) (struct{}, error) { return struct{}{}, n.removeServerAsLeader(ctx, id) },
		remote: func(ctx context.Context, addr, lid string) (struct{}, error) {
			if err := n.cfg.LeaderClient.RemoveServer(ctx, addr, id); err != nil {
				return struct{}{}, fmt.Errorf("remove %s through leader %s at %s: %w", id, lid, addr, err)
			}
			return struct{}{}, nil
		},
		retryLocal:  never,
		retryRemote: always, // removal is idempotent
	})
	return err
}

// notLeaderError names the leader, if known, so that operators (and the
// forwarding layer's logs) see where writes should go.
func (n *Node) notLeaderError() error {
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return fmt.Errorf("%w (no leader known)", ErrNotLeader)
	}
	return fmt.Errorf("%w (leader is %s at %s)", ErrNotLeader, id, addr)
}
