package cluster

import (
	"io"

	"github.com/hashicorp/raft"

	"github.com/stratagw/strata/fsm"
)

// notifyingFSM is what raft drives: it passes everything to the fsm.FSM
// and wakes the goroutines waiting in waitApplied after each apply or
// restore, so that read barriers and forwarded writes do not poll.
type notifyingFSM struct {
	f *fsm.FSM
	// signal is broadcast after every change of the FSM's state.
	*signal
}

var _ raft.BatchingFSM = (*notifyingFSM)(nil)

// newNotifyingFSM wraps f.
func newNotifyingFSM(f *fsm.FSM) *notifyingFSM {
	return &notifyingFSM{f: f, signal: newSignal()}
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
