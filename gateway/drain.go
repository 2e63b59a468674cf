package gateway

import (
	"context"
	"sync"
)

// inflight counts the requests being served and the work they detached
// (a CompleteMultipartUpload that finishes after its client left), so
// that a node shutting down can let a write that already reached the
// backend also reach its commit before raft stops. Without that, the
// backend would hold the new bytes under the key while the record still
// describes the object they replaced.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

// add counts one more piece of work.
func (f *inflight) add() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
}

// done uncounts a piece of work.
func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.idle)
	}
}

// wait returns when nothing is counted or ctx ends.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drain waits until no request is being served and no detached write is
// running, or ctx ends. Call it after the HTTP server stopped accepting
// requests and before the cluster node is closed.
func (g *Gateway) Drain(ctx context.Context) error {
	return g.work.wait(ctx)
}
