package cluster

import "sync"

// signal wakes every goroutine waiting for "something changed": waiters
// take the current channel (before checking the state they wait for, so
// no change is missed) and broadcast closes it and installs a fresh one.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// changed returns a channel that is closed at the next broadcast.
func (s *signal) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// broadcast wakes every waiter.
func (s *signal) broadcast() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}
