package gateway

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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
// one key cannot interleave. It is a fixed set of striped mutexes: memory
// does not grow with the number of keys. Cross-node ordering is the
// cluster's concern (see DESIGN.md).
type keyLocks struct {
	stripes [1024]sync.Mutex
}

func newKeyLocks() *keyLocks { return &keyLocks{} }

func (l *keyLocks) stripe(bucket, key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(bucket))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(len(l.stripes)))
}

// lock locks the stripes of every (bucket, key) pair given as consecutive
// arguments, in stripe order so that two callers locking overlapping sets
// cannot deadlock, and returns the unlock function.
func (l *keyLocks) lock(bucketKeys ...string) (unlock func()) {
	idx := make([]int, 0, len(bucketKeys)/2)
	for i := 0; i+1 < len(bucketKeys); i += 2 {
		idx = append(idx, l.stripe(bucketKeys[i], bucketKeys[i+1]))
	}
	sort.Ints(idx)
	uniq := idx[:0]
	for i, s := range idx {
		if i == 0 || s != idx[i-1] {
			uniq = append(uniq, s)
		}
	}
	for _, s := range uniq {
		l.stripes[s].Lock()
	}
	return func() {
		for i := len(uniq) - 1; i >= 0; i-- {
			l.stripes[uniq[i]].Unlock()
		}
	}
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
