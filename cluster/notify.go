package cluster

import (
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/stratagw/strata/fsm"
)

// notifyingFSM is what raft drives: it passes everything to the fsm.FSM
// and wakes the goroutines waiting in waitApplied after each apply or
// restore, so that read barriers and forwarded writes do not poll.
type notifyingFSM struct {
	f *fsm.FSM

	mu sync.Mutex
	ch chan struct{} // closed and replaced on every change
}

var _ raft.BatchingFSM = (*notifyingFSM)(nil)

// newNotifyingFSM wraps f.
func newNotifyingFSM(f *fsm.FSM) *notifyingFSM {
	return &notifyingFSM{f: f, ch: make(chan struct{})}
}

// changed returns a channel that is closed at the next change of the
// FSM's state. Take it before checking the state, so no change is missed.
func (s *notifyingFSM) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// broadcast wakes every waiter.
func (s *notifyingFSM) broadcast() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// Apply implements raft.FSM.
func (s *notifyingFSM) Apply(l *raft.Log) any {
	defer s.broadcast()
	return s.f.Apply(l)
}

// ApplyBatch implements raft.BatchingFSM.
func (s *notifyingFSM) ApplyBatch(logs []*raft.Log) []any {
	defer s.broadcast()
	return s.f.ApplyBatch(logs)
}

// Snapshot implements raft.FSM.
func (s *notifyingFSM) Snapshot() (raft.FSMSnapshot, error) { return s.f.Snapshot() }

// Restore implements raft.FSM.
func (s *notifyingFSM) Restore(rc io.ReadCloser) error {
	defer s.broadcast()
	return s.f.Restore(rc)
}
