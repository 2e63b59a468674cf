package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratagw/strata/fsm"
)

// Apply encodes a command and submits it (see ApplyEncoded).
func (n *Node) Apply(ctx context.Context, t fsm.CommandType, body any) (fsm.Result, error) {
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		return fsm.Result{}, fmt.Errorf("cluster: %w", err)
	}
	return n.ApplyEncoded(ctx, cmd)
}

// ApplyEncoded submits an encoded command (fsm.Encode) and returns once the
// local FSM has applied it. A deterministic command failure is returned as
// the *fsm.Error (also in Result.Err). Any other error wraps ErrNotLeader,
// ErrTimeout, ErrShutdown or the context's error, and means the command may
// or may not be applied. On a follower the command goes to the leader
// through Config.LeaderClient (see applyRouted); the leader's cluster RPC
// serves forwarded bytes with ApplyLocal.
func (n *Node) ApplyEncoded(ctx context.Context, cmd []byte) (fsm.Result, error) {
	if err := n.check(); err != nil {
		return fsm.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.applyTimeout)
	defer cancel()
	return n.applyRouted(ctx, cmd)
}

// enqueueTimeout is how long raft may wait to enqueue a command: what is
// left of ctx's deadline.
func enqueueTimeout(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return DefaultApplyTimeout
	}
	return max(time.Until(dl), time.Millisecond)
}

// resultOf turns the FSM's response into Apply's return values.
func resultOf(resp any) (fsm.Result, error) {
	switch r := resp.(type) {
	case fsm.Result:
		if r.Err != nil {
			return r, r.Err
		}
		return r, nil
	case error:
		// A local failure of the state file (fsm.ErrFatal): the entry is
		// committed but this node could not apply it.
		return fsm.Result{}, fmt.Errorf("cluster: state machine: %w", r)
	default:
		return fsm.Result{}, fmt.Errorf("cluster: unexpected state machine response %T", resp)
	}
}

// await waits for a raft future, giving up when ctx ends or the node shuts
// down (raft futures have no channel of their own).
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.shutdownCh:
		return ErrShutdown
	}
}

// mapErr translates raft's errors into this package's sentinels, keeping
// the original as context.
func (n *Node) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrShutdown), errors.Is(err, ErrNotLeader), errors.Is(err, ErrTimeout):
		return err
	case errors.Is(err, raft.ErrRaftShutdown), n.isClosed():
		return fmt.Errorf("%w: %v", ErrShutdown, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		// The entry was submitted before leadership was lost; the next
		// leader may still commit it. Ambiguous, so never ErrNotLeader
		// (which tells forwarders it is safe to resubmit).
		return fmt.Errorf("%w: leadership lost while the command was in flight; it may or may not be applied: %v", ErrTimeout, err)
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", n.notLeaderError(), err)
	case errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	return err
}
