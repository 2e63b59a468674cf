package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// barrier makes the following local reads strongly consistent. A failure
// means no leader could confirm the state: 503, nothing done.
func (g *Gateway) barrier(ctx context.Context) error {
	if err := g.cluster.ReadBarrier(ctx); err != nil {
		return &APIError{Code: ErrServiceUnavailable, Message: "The cluster state could not be read. Please retry.", Cause: err}
	}
	return nil
}

// bucket reads a bucket record after a read barrier; a missing bucket is
// NoSuchBucket.
func (g *Gateway) bucket(ctx context.Context, name string) (fsm.Bucket, error) {
	if err := g.barrier(ctx); err != nil {
		return fsm.Bucket{}, err
	}
	return g.localBucket(name)
}

// localBucket reads a bucket record from the local state (no barrier).
func (g *Gateway) localBucket(name string) (fsm.Bucket, error) {
	b, ok, err := g.state.Bucket(name)
	if err != nil {
		return fsm.Bucket{}, fmt.Errorf("read bucket %q: %w", name, err)
	}
	if !ok {
		return fsm.Bucket{}, noSuchBucket(name)
	}
	return b, nil
}

// noSuchBucket is the NoSuchBucket error naming the bucket.
func noSuchBucket(name string) *APIError {
	return &APIError{Code: ErrNoSuchBucket, Extra: map[string]string{"BucketName": name}}
}

// noSuchKey is the NoSuchKey error naming the key.
func noSuchKey(key string) *APIError {
	return &APIError{Code: ErrNoSuchKey, Extra: map[string]string{"Key": key}}
}

// primaryBacking is the backing bucket new objects of b are written to.
func primaryBacking(b fsm.Bucket) (fsm.BackingBucket, error) {
	if len(b.Backings) == 0 {
		return fsm.BackingBucket{}, &APIError{Code: ErrInternalError, Cause: fmt.Errorf("bucket %q has no backing bucket", b.Name)}
	}
	return b.Backings[0], nil
}

// writeTarget is where new objects of b go: its primary backing bucket
// and that bucket's open backend.
func (g *Gateway) writeTarget(ctx context.Context, b fsm.Bucket) (fsm.BackingBucket, backend.Backend, error) {
	bb, err := primaryBacking(b)
	if err != nil {
		return fsm.BackingBucket{}, nil, err
	}
	be, err := g.backend(ctx, bb.BackendID)
	if err != nil {
		return fsm.BackingBucket{}, nil, err
	}
	return bb, be, nil
}

// backend opens a backend by record id; failure to open it is 503.
func (g *Gateway) backend(ctx context.Context, id string) (backend.Backend, error) {
	be, err := g.backends.Get(ctx, id)
	if err != nil {
		return nil, &APIError{Code: ErrServiceUnavailable, Message: "The storage backend is unavailable. Please retry.",
			Cause: fmt.Errorf("open backend %s: %w", id, err)}
	}
	return be, nil
}

// apply submits a command. A deterministic failure comes back as a
// *fsm.Error (for the caller to map, see fsmAPIError); anything else means
// the command's fate is unknown and becomes 503 ServiceUnavailable.
func (g *Gateway) apply(ctx context.Context, t fsm.CommandType, body any) (fsm.Result, error) {
	res, err := g.cluster.Apply(ctx, t, body)
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		var fe *fsm.Error
		if errors.As(err, &fe) {
			return res, fe
		}
		return res, &APIError{Code: ErrServiceUnavailable, Message: "The cluster could not commit the change. Please retry.",
			Cause: fmt.Errorf("apply %s: %w", t, err)}
	}
	return res, nil
}

// isDeterministic reports whether err is a command failure that certainly
// did not change the state (so compensating backend clean-up is safe).
func isDeterministic(err error) bool {
	var fe *fsm.Error
	return errors.As(err, &fe)
}

// keyLocks serialises writers of the same object on this node, so that the
// backend write and the FSM commit of two PUTs (or a PUT and a DELETE) of
// one key cannot interleave. Locks are per exact key (no false sharing: a
// 5 GiB upload never blocks an unrelated key) and exist only while held or
// awaited, so memory is bounded by the number of requests in flight.
// Cross-node ordering is the cluster's concern (see DESIGN.md).
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

// keyLock is one key's mutex with the number of holders and waiters.
type keyLock struct {
	mu   sync.Mutex
	refs int
}

func newKeyLocks() *keyLocks { return &keyLocks{locks: map[string]*keyLock{}} }

// lock locks every (bucket, key) pair given as consecutive arguments, in
// sorted order so that two callers locking overlapping sets cannot
// deadlock, and returns the unlock function.
func (l *keyLocks) lock(bucketKeys ...string) (unlock func()) {
	names := make([]string, 0, len(bucketKeys)/2)
	for i := 0; i+1 < len(bucketKeys); i += 2 {
		names = append(names, bucketKeys[i]+"\x00"+bucketKeys[i+1])
	}
	sort.Strings(names)
	names = slices.Compact(names)
	held := make([]*keyLock, 0, len(names))
	for _, n := range names {
		kl := l.acquire(n)
		kl.mu.Lock()
		held = append(held, kl)
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].mu.Unlock()
			l.release(names[i])
		}
	}
}

// tryLock locks bucket/key only if that takes no waiting, and returns the
// unlock function and true; false means a writer of the key on this node
// holds the lock (a caller that took it but has not locked yet does not
// block tryLock, and it has not written anything yet either).
func (l *keyLocks) tryLock(bucket, key string) (unlock func(), ok bool) {
	name := bucket + "\x00" + key
	kl := l.acquire(name)
	if !kl.mu.TryLock() {
		l.release(name)
		return nil, false
	}
	return func() {
		kl.mu.Unlock()
		l.release(name)
	}, true
}

// acquire returns the lock of name, creating it, and counts the caller.
func (l *keyLocks) acquire(name string) *keyLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	kl, ok := l.locks[name]
	if !ok {
		kl = &keyLock{}
		l.locks[name] = kl
	}
	kl.refs++
	return kl
}

// release uncounts the caller and forgets the lock when nobody needs it.
func (l *keyLocks) release(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kl := l.locks[name]
	kl.refs--
	if kl.refs == 0 {
		delete(l.locks, name)
	}
}

// size is the number of keys locked or awaited (tests).
func (l *keyLocks) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.locks)
}

// sortedKeys returns the keys of m in order (deterministic XML and headers).
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
