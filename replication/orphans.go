package replication

// The orphan cleaner. A PUT writes the backing object first and commits
// its record after (the backing key is the client key); a crash in between,
// or a commit that failed whose cleanup failed too, leaves a backing object
// no record points at: invisible to clients, taking space forever. The
// cleaner lists every backing bucket of every bucket strata created and
// deletes such objects once they are older than a grace period.
//
// What protects a write that is still in progress:
//
//   - A record exists for the key: never touched, whatever its replica ETag
//     says (a mismatch is a write that lost its commit over an existing
//     record, and the gateway adopts the bytes on the next GET).
//   - The object is younger than Grace: a PUT may be between its backend
//     write and its commit.
//   - An upload of the key is in progress: S3 may give a completed
//     multipart object the LastModified of the upload's initiation, so an
//     object that CompleteMultipartUpload just assembled can look hours old
//     while its commit is still on the way. The upload record exists from
//     initiation until CompleteUpload removes it and writes the object
//     record in the same FSM transaction, so checking the upload and then
//     the record again leaves no moment where neither is seen.
//   - Right before deleting, the record is read once more (a commit may
//     have landed since the page was listed) and the object is HEADed: a
//     different ETag or a recent ModTime means someone wrote the key since
//     the listing, and it is kept.
//
// What remains is the time between that HEAD and the delete: a write of
// the key on another node whose backend write lands in those milliseconds
// loses its bytes (its record then points at a missing object, which the
// gateway answers with 503). Closing it needs a conditional delete or
// per-key leases in the FSM; see replication/DESIGN.md.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// Defaults for OrphanCleanerOptions.
const (
	// DefaultOrphanGrace is how old a backing object without a record must
	// be before it is deleted. It must exceed the longest time between a
	// backend write and its commit; an hour is far more than a commit takes.
	DefaultOrphanGrace = time.Hour
	// DefaultOrphanInterval is the time between two sweeps. Orphans are
	// rare (crashes, failed cleanups) and a sweep lists every backing
	// bucket, so there is no point in sweeping often.
	DefaultOrphanInterval = time.Hour
	// DefaultOrphanPageSize is how many backing objects one listing call
	// returns: the most the cleaner holds in memory at once.
	DefaultOrphanPageSize = 1000
)

// OrphanCleanerOptions tunes the orphan cleaner. Zero values mean the
// defaults.
type OrphanCleanerOptions struct {
	// Grace is how old (backend ModTime) an object without a record must
	// be before it is deleted.
	Grace time.Duration
	// Interval is the time between two sweeps.
	Interval time.Duration
	// PageSize is the number of backing objects listed per backend call.
	PageSize int
	// Now returns the current time (tests pass a fixed clock).
	Now func() time.Time
}

// OrphanCleaner deletes backing objects that no object record points at
// and that are older than Grace, in every bucket that was not imported.
// It never changes the FSM.
type OrphanCleaner struct {
	state    fsm.Reader
	cluster  Cluster
	backends Backends
	opts     OrphanCleanerOptions
	log      *slog.Logger
}

// NewOrphanCleaner returns a cleaner; call Run to start it.
func NewOrphanCleaner(state fsm.Reader, cluster Cluster, backends Backends, opts OrphanCleanerOptions, logger *slog.Logger) *OrphanCleaner {
	if opts.Grace <= 0 {
		opts.Grace = DefaultOrphanGrace
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultOrphanInterval
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultOrphanPageSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &OrphanCleaner{
		state:    state,
		cluster:  cluster,
		backends: backends,
		opts:     opts,
		log:      logger.With("worker", "orphan-cleaner"),
	}
}

// Run sweeps until ctx is done: as soon as this node is (or becomes) the
// leader, then every Interval while it stays leader (see runOnLeader).
// Only the leader sweeps so that nodes do not list every backend N times
// over, and because the leader's state is the most current one to check
// records against.
func (c *OrphanCleaner) Run(ctx context.Context) {
	runOnLeader(ctx, c.cluster, c.opts.Interval, c.sweepAndLog)
}

// sweepAndLog runs one pass and logs its outcome.
func (c *OrphanCleaner) sweepAndLog(ctx context.Context) {
	n, err := c.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.Warn("sweep failed", "deleted", n, "err", err)
	case n > 0:
		c.log.Info("deleted orphan backing objects", "count", n)
	}
}

// backingRef identifies a backing bucket across virtual buckets.
type backingRef struct{ backendID, name string }

// Sweep runs one pass over every backing bucket of every bucket that was
// not imported and returns how many orphans it deleted. A failing backend
// or bucket is logged and skipped (a dead backend must not keep the others
// from being cleaned); the errors are returned joined.
func (c *OrphanCleaner) Sweep(ctx context.Context) (int, error) {
	buckets, err := c.state.Buckets()
	if err != nil {
		return 0, fmt.Errorf("read buckets: %w", err)
	}
	imported := importedBackings(buckets)
	var errs []error
	n := 0
	for _, b := range buckets {
		if b.Imported {
			continue // foreign objects: indexed, never deleted
		}
		for _, bb := range b.Backings {
			if err := ctx.Err(); err != nil {
				return n, errors.Join(append(errs, err)...)
			}
			if imported[backingRef{bb.BackendID, bb.Name}] {
				continue
			}
			deleted, err := c.sweepBacking(ctx, b.Name, bb)
			n += deleted
			if ctx.Err() != nil {
				return n, errors.Join(append(errs, ctx.Err())...) // stopping, not failing
			}
			if err != nil {
				c.log.Warn("sweep backing bucket", "bucket", b.Name, "backend", bb.BackendID,
					"backing_bucket", bb.Name, "err", err)
				errs = append(errs, err)
			}
		}
	}
	return n, errors.Join(errs...)
}

// importedBackings collects the backing buckets of imported buckets, so
// that a backing bucket shared with a bucket strata created is still never
// cleaned.
func importedBackings(buckets []fsm.Bucket) map[backingRef]bool {
	out := make(map[backingRef]bool)
	for _, b := range buckets {
		if !b.Imported {
			continue
		}
		for _, bb := range b.Backings {
			out[backingRef{bb.BackendID, bb.Name}] = true
		}
	}
	return out
}

// sweepBacking lists one backing bucket page by page (holding one page at
// a time) and deletes its orphans. An error on one object is remembered
// and the listing goes on; a listing error ends this backing bucket.
func (c *OrphanCleaner) sweepBacking(ctx context.Context, bucket string, bb fsm.BackingBucket) (int, error) {
	be, err := c.backends.Get(ctx, bb.BackendID)
	if err != nil {
		return 0, fmt.Errorf("open backend %s: %w", bb.BackendID, err)
	}
	var firstErr error
	n := 0
	after := ""
	for {
		objs, truncated, err := be.ListObjects(ctx, bb.Name, "", after, c.opts.PageSize)
		if err != nil {
			return n, errors.Join(firstErr, fmt.Errorf("list %s on backend %s after %q: %w", bb.Name, bb.BackendID, after, err))
		}
		for _, o := range objs {
			deleted, err := c.collect(ctx, be, bucket, bb, o)
			if err != nil {
				if ctx.Err() != nil {
					return n, ctx.Err()
				}
				if firstErr == nil {
					firstErr = err
				}
			}
			if deleted {
				n++
			}
		}
		if !truncated || len(objs) == 0 {
			return n, firstErr
		}
		after = objs[len(objs)-1].Key
	}
}

// collect deletes one listed backing object if it is an orphan (see the
// file comment for the order of the checks and why) and reports whether
// it did.
func (c *OrphanCleaner) collect(ctx context.Context, be backend.Backend, bucket string, bb fsm.BackingBucket, o backend.ObjectInfo) (bool, error) {
	orphan, err := c.isOrphan(bucket, o)
	if err != nil || !orphan {
		return false, err
	}
	if same, err := c.unchanged(ctx, be, bb, o); err != nil || !same {
		return false, err
	}
	if err := be.DeleteObject(ctx, bb.Name, o.Key); err != nil {
		return false, fmt.Errorf("delete orphan %s/%s on backend %s: %w", bb.Name, o.Key, bb.BackendID, err)
	}
	c.log.Info("deleted orphan backing object", "bucket", bucket, "backend", bb.BackendID,
		"backing_bucket", bb.Name, "key", o.Key, "size", o.Size, "age", c.opts.Now().Sub(o.ModTime).Round(time.Second))
	return true, nil
}

// isOrphan reports whether nothing claims the listed object: no record,
// older than Grace, no upload of the key in progress, and still no record
// after that (a CompleteUpload may have committed between the two reads).
func (c *OrphanCleaner) isOrphan(bucket string, o backend.ObjectInfo) (bool, error) {
	if has, err := c.hasRecord(bucket, o.Key); err != nil || has {
		return false, err
	}
	if c.young(o.ModTime) {
		return false, nil
	}
	if up, err := c.uploading(bucket, o.Key); err != nil || up {
		return false, err
	}
	has, err := c.hasRecord(bucket, o.Key)
	return err == nil && !has, err
}

// unchanged HEADs the object right before the delete: a different ETag or
// a recent ModTime means the key was written since it was listed. An
// object already gone needs no delete.
func (c *OrphanCleaner) unchanged(ctx context.Context, be backend.Backend, bb fsm.BackingBucket, o backend.ObjectInfo) (bool, error) {
	info, err := be.HeadObject(ctx, bb.Name, o.Key)
	if errors.Is(err, backend.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("head %s/%s on backend %s: %w", bb.Name, o.Key, bb.BackendID, err)
	}
	if o.ETag != "" && info.ETag != o.ETag {
		return false, nil
	}
	return !c.young(info.ModTime), nil
}

// young reports whether a backing object was written within Grace.
func (c *OrphanCleaner) young(modTime time.Time) bool {
	return c.opts.Now().Sub(modTime) < c.opts.Grace
}

func (c *OrphanCleaner) hasRecord(bucket, key string) (bool, error) {
	_, ok, err := c.state.Object(bucket, key)
	if err != nil {
		return false, fmt.Errorf("read record %s/%s: %w", bucket, key, err)
	}
	return ok, nil
}

// uploading reports whether a multipart upload of exactly this key is in
// progress (or the bucket is gone). Uploads are ordered by key, so with
// the key as prefix an upload of the key itself comes first.
func (c *OrphanCleaner) uploading(bucket, key string) (bool, error) {
	res, err := c.state.ListUploads(bucket, fsm.ListUploadsOptions{Prefix: key, MaxUploads: 1})
	if errors.Is(err, fsm.ErrCode(fsm.CodeNoSuchBucket)) {
		// Deleted during the sweep: DeleteBucket removes its backing
		// buckets itself, and keeping is the safe answer.
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("list uploads of %s/%s: %w", bucket, key, err)
	}
	return len(res.Uploads) > 0 && res.Uploads[0].Key == key, nil
}
